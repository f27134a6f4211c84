import type { AuditEventInput } from '../audit/event.js';
import type { AuditLog } from '../audit/log.js';
import type { Directory, FailureReason, Identity } from '../directory/identity.js';
import { normaliseUsername } from '../directory/identity.js';
import type { Logger } from '../log/logger.js';
import type { Source } from '../policy/source.js';
import type { Throttle } from './throttle.js';

/** What the flow knows of the attempt beyond the credentials. */
export interface AttemptContext {
  source: Source;
  application: { id: string; protocol: 'oidc' | 'saml' };
  /** hashed id of the pending interaction, joining the events of one sign-in */
  correlation?: string;
}

/** A completed first factor, as the protocol front-ends record it in the session. */
export interface Authentication {
  identity: Identity;
  amr: string[];
  acr: string;
  /** epoch seconds */
  authTime: number;
}

export type FirstFactorOutcome =
  | { kind: 'authenticated'; authentication: Authentication }
  | { kind: 'failed'; code: 'invalid_credentials'; reason: FailureReason }
  | { kind: 'throttled'; code: 'throttled'; retryAfterSeconds: number }
  | { kind: 'missing'; code: 'missing_credentials' };

export interface FlowSettings {
  acr: { password: string };
  /** longest username and password looked at; longer input fails like a wrong password, at the same cost */
  maxUsernameLength: number;
  maxPasswordLength: number;
}

/**
 * The sign-in flow, apart from HTTP and protocols: identify → first factor → (decide → second factor, later) → done.
 * Every protocol front-end (OIDC now, SAML later) calls it with the pending interaction's context. Every step is
 * audited before its result is acted on: when the event cannot be stored the step throws and nobody is signed in.
 */
export class SignInFlow {
  constructor(
    private readonly directory: Directory,
    private readonly throttle: Throttle,
    private readonly audit: AuditLog,
    private readonly settings: FlowSettings,
    private readonly log: Logger,
  ) {}

  private event(
    ctx: AttemptContext,
    input: Omit<AuditEventInput, 'source' | 'application' | 'correlation' | 'actor'> & {
      actor?: AuditEventInput['actor'];
    },
  ): AuditEventInput {
    return {
      actor: { type: 'user' },
      ...input,
      application: ctx.application,
      source: ctx.source,
      ...(ctx.correlation ? { correlation: ctx.correlation } : {}),
    };
  }

  async passwordStep(username: string, password: string, ctx: AttemptContext): Promise<FirstFactorOutcome> {
    if (!username.trim() || !password) return { kind: 'missing', code: 'missing_credentials' };
    const typed = username.trim().slice(0, this.settings.maxUsernameLength);
    const account = normaliseUsername(typed);
    const reservation = await this.throttle.reserveFor(account, ctx.source.ip);
    if (!reservation.allowed) {
      const known = await this.directory.lookup(account);
      await this.audit.append(
        this.event(ctx, {
          action: 'signin.throttled',
          outcome: 'denied',
          reason: 'throttled',
          subject: { username: account, known: known !== undefined, ...(known ? { id: known.id } : {}) },
          details: { retry_after_seconds: reservation.retryAfterSeconds },
        }),
      );
      return { kind: 'throttled', code: 'throttled', retryAfterSeconds: reservation.retryAfterSeconds };
    }
    const tooLong =
      username.length > this.settings.maxUsernameLength || password.length > this.settings.maxPasswordLength;
    const result = await this.directory.authenticate(tooLong ? '' : username, tooLong ? '' : password);
    if (!result.ok) {
      await this.audit.append(
        this.event(ctx, {
          action: 'signin.password',
          outcome: 'failure',
          reason: result.code,
          subject: {
            username: account,
            known: result.reason !== 'unknown_user',
            ...(result.userId ? { id: result.userId } : {}),
          },
          details: { failure: tooLong ? 'input_too_long' : result.reason },
        }),
      );
      return { kind: 'failed', code: result.code, reason: result.reason };
    }
    const { identity } = result;
    await this.audit.append(
      this.event(ctx, {
        action: 'signin.password',
        outcome: 'success',
        actor: { type: 'user', id: identity.id, name: identity.username },
        subject: { id: identity.id, username: identity.username, known: true },
      }),
    );
    await this.throttle.succeeded(account, ctx.source.ip);
    if (result.rehash) {
      result.rehash().catch((err: unknown) => this.log.warn({ err }, 'could not upgrade a password hash'));
    }
    return {
      kind: 'authenticated',
      authentication: {
        identity,
        amr: ['pwd'],
        acr: this.settings.acr.password,
        authTime: Math.floor(Date.now() / 1000),
      },
    };
  }

  /** The sign-in is done and about to be handed back to the application. */
  async completed(authentication: Authentication, ctx: AttemptContext): Promise<void> {
    const { identity } = authentication;
    await this.audit.append(
      this.event(ctx, {
        action: 'signin.completed',
        outcome: 'success',
        actor: { type: 'user', id: identity.id, name: identity.username },
        subject: { id: identity.id, username: identity.username, known: true },
        details: { amr: authentication.amr, acr: authentication.acr },
      }),
    );
  }

  /** The user answered the consent page. */
  async consent(
    identity: Identity | undefined,
    allowed: boolean,
    scopes: string[],
    ctx: AttemptContext,
  ): Promise<void> {
    await this.audit.append(
      this.event(ctx, {
        action: allowed ? 'consent.given' : 'consent.denied',
        outcome: allowed ? 'success' : 'denied',
        ...(identity
          ? {
              actor: { type: 'user', id: identity.id, name: identity.username },
              subject: { id: identity.id, username: identity.username, known: true },
            }
          : {}),
        ...(allowed ? {} : { reason: 'access_denied' }),
        details: { scopes },
      }),
    );
  }
}
