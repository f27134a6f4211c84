import type { AuditEventInput } from '../audit/event.js';
import type { AuditLog } from '../audit/log.js';
import type { Directory } from '../directory/identity.js';
import { acrFor, type AcrValues } from '../mfa/strength.js';
import type { WebauthnFactor } from '../mfa/webauthn/factor.js';
import type { AttemptContext, Authentication } from './flow.js';
import { ipThrottleKey, type Throttle } from './throttle.js';

export interface PasskeyDeps {
  directory: Directory;
  audit: AuditLog;
  throttle: Throttle;
  webauthn: WebauthnFactor;
  acr: AcrValues;
}

export type PasskeyOutcome =
  | { kind: 'authenticated'; authentication: Authentication }
  | { kind: 'failed'; reason: string }
  | { kind: 'throttled'; retryAfterSeconds: number };

/** A passkey that verified its user is possession plus PIN or biometrics: multi-factor and phishing-resistant. */
const PASSKEY_AMR = ['hwk', 'user', 'mfa'];

/**
 * Sign-in with a passkey instead of a password: the credential itself says who is signing in. Nobody is named before
 * the check, so attempts are throttled per client IP (under a name no username can take, beside the shared IP
 * budget); an unknown credential fails like a wrong one. Audited like a second factor, marked password-less.
 */
export class PasskeySignIn {
  constructor(private readonly deps: PasskeyDeps) {}

  private event(
    ctx: AttemptContext,
    input: Omit<AuditEventInput, 'source' | 'application' | 'correlation'>,
  ): AuditEventInput {
    return {
      ...input,
      application: ctx.application,
      source: ctx.source,
      ...(ctx.correlation ? { correlation: ctx.correlation } : {}),
    };
  }

  /** The options for the browser; a new challenge for this pending sign-in replaces any earlier one. */
  async options(uid: string) {
    return this.deps.webauthn.passkeyOptions(uid);
  }

  async step(uid: string, credential: string, ctx: AttemptContext): Promise<PasskeyOutcome> {
    const { audit, throttle } = this.deps;
    const details = { factor: 'webauthn', passwordless: true };
    const ip = ctx.source.ip;
    // Usernames cannot hold a colon: this throttle name is never an account's.
    const throttleName = `passkey:${ipThrottleKey(ip)}`;
    const reservation = await throttle.reserveFor(throttleName, ip);
    if (!reservation.allowed) {
      await audit.append(
        this.event(ctx, {
          action: 'signin.throttled',
          outcome: 'denied',
          reason: 'throttled',
          actor: { type: 'user' },
          details: { ...details, retry_after_seconds: reservation.retryAfterSeconds },
        }),
      );
      return { kind: 'throttled', retryAfterSeconds: reservation.retryAfterSeconds };
    }
    const check = await this.deps.webauthn.verifyPasskey(uid, credential);
    // findById answers only for users who exist and are enabled.
    const owner = check.ok ? await this.deps.directory.findById(check.factor.userId) : undefined;
    if (!check.ok || !owner) {
      const factor = check.factor;
      await audit.append(
        this.event(ctx, {
          action: 'signin.mfa',
          outcome: 'failure',
          reason: 'invalid_response',
          actor: { type: 'user', ...(factor ? { id: factor.userId } : {}) },
          subject: factor ? { id: factor.userId, known: true } : { known: false },
          details: {
            ...details,
            failure: check.ok ? 'user_disabled' : check.reason,
            ...(factor ? { factor_id: factor.id } : {}),
          },
        }),
      );
      return { kind: 'failed', reason: 'invalid_response' };
    }
    await audit.append(
      this.event(ctx, {
        action: 'signin.mfa',
        outcome: 'success',
        actor: { type: 'user', id: owner.id, name: owner.username },
        subject: { id: owner.id, username: owner.username, known: true },
        details: { ...details, factor_id: check.factor.id },
      }),
    );
    await throttle.succeeded(throttleName, ip);
    return {
      kind: 'authenticated',
      authentication: {
        identity: owner,
        amr: PASSKEY_AMR,
        acr: acrFor('phishing_resistant', this.deps.acr),
        strength: 'phishing_resistant',
        authTime: Math.floor(Date.now() / 1000),
      },
    };
  }
}
