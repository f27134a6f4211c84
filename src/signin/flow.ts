import type { Directory, FailureReason, Identity } from '../directory/identity.js';
import { normaliseUsername } from '../directory/identity.js';
import type { Logger } from '../log/logger.js';
import type { Throttle } from './throttle.js';

/** What the flow knows of the attempt beyond the credentials. */
export interface AttemptContext {
  ip: string;
  userAgent?: string;
  clientId: string;
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
  /** longest username and password accepted before even throttling, to bound the work an attacker can ask for */
  maxUsernameLength: number;
  maxPasswordLength: number;
}

/**
 * The sign-in flow, apart from HTTP and protocols: identify → first factor → (decide → second factor, later) → done.
 * Every protocol front-end (OIDC now, SAML later) calls it with the pending interaction's context.
 */
export class SignInFlow {
  constructor(
    private readonly directory: Directory,
    private readonly throttle: Throttle,
    private readonly settings: FlowSettings,
    private readonly log: Logger,
  ) {}

  async passwordStep(username: string, password: string, ctx: AttemptContext): Promise<FirstFactorOutcome> {
    if (!username.trim() || !password) return { kind: 'missing', code: 'missing_credentials' };
    const account = normaliseUsername(username).slice(0, this.settings.maxUsernameLength);
    const reservation = await this.throttle.reserveFor(account, ctx.ip);
    if (!reservation.allowed) {
      this.log.warn({ event: 'signin.throttled', username: account, ip: ctx.ip, client: ctx.clientId }, 'sign-in throttled');
      return { kind: 'throttled', code: 'throttled', retryAfterSeconds: reservation.retryAfterSeconds };
    }
    const tooLong = username.length > this.settings.maxUsernameLength || password.length > this.settings.maxPasswordLength * 4;
    const result = await this.directory.authenticate(tooLong ? '' : username, tooLong ? '' : password);
    if (!result.ok) {
      this.log.info({ event: 'signin.password', outcome: 'failure', reason: result.reason, username: account, ip: ctx.ip, client: ctx.clientId }, 'sign-in failed');
      return { kind: 'failed', code: result.code, reason: result.reason };
    }
    await this.throttle.succeeded(account, ctx.ip);
    if (result.rehash) {
      result.rehash().catch((err: unknown) => this.log.warn({ err }, 'could not upgrade a password hash'));
    }
    this.log.info({ event: 'signin.password', outcome: 'success', user: result.identity.id, ip: ctx.ip, client: ctx.clientId }, 'password accepted');
    return {
      kind: 'authenticated',
      authentication: { identity: result.identity, amr: ['pwd'], acr: this.settings.acr.password, authTime: Math.floor(Date.now() / 1000) },
    };
  }
}
