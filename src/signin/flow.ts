import type { AuditEventInput } from '../audit/event.js';
import type { AuditLog } from '../audit/log.js';
import type { UserRepository } from '../directory/users.js';
import type { Directory, FailureReason, Identity } from '../directory/identity.js';
import type { UpstreamResult } from '../directory/upstream/directory.js';
import { normaliseUsername } from '../directory/identity.js';
import type { Logger } from '../log/logger.js';
import type { Source } from '../policy/source.js';
import { locationOf } from '../policy/context.js';
import type { AuditPolicy, Enforcement } from '../policy/enforce.js';
import type { SignInHistory } from '../policy/history.js';
import type { FactorKind, FactorRecord, SecondFactor } from '../mfa/factor.js';
import type { FactorRepository } from '../mfa/factors.js';
import {
  RECOVERY_CODE_AMR,
  RECOVERY_CODE_STRENGTH,
  RECOVERY_FACTOR_ID,
  type RecoveryCodes,
} from '../mfa/recovery.js';
import {
  acrFor,
  satisfies,
  stricter,
  type AcrValues,
  type Requirement,
  type Strength,
} from '../mfa/strength.js';
import { FACTOR_STRENGTH } from '../mfa/factor.js';
import type { KeyValueStore } from '../store/kv.js';
import type { Throttle } from './throttle.js';

/** A sign-in whose first factor is done and that waits for a second one; kept in the key-value store. */
export interface PendingSecondFactor {
  userId: string;
  username: string;
  requirement: Requirement;
  /** what the session already holds: ['pwd'] after a password, the session's amr for a step-up */
  amr: string[];
  /** the policy decision that asked for the second factor, for the audit event of the completed sign-in */
  policy?: AuditPolicy;
}

export type SecondFactorOutcome =
  | { kind: 'authenticated'; authentication: Authentication; factor: FactorRecord }
  /** signed in with a recovery code: the pages say how many are left before finishing (`finishRecovered`) */
  | { kind: 'recovered'; authentication: Authentication; remaining: number }
  | { kind: 'failed'; reason: string }
  | { kind: 'throttled'; retryAfterSeconds: number }
  | { kind: 'expired' };

export interface MfaDeps {
  factors: FactorRepository;
  kinds: ReadonlyMap<FactorKind, SecondFactor>;
  kv: KeyValueStore;
  /** when a second factor is asked for without a policy rule */
  required: 'never' | 'enrolled' | 'always';
  /** how long a pending second factor may wait (the interaction's lifetime) */
  ttlSeconds: number;
  /** single-use recovery codes, accepted in place of the user's factors where their strength is enough */
  recovery?: RecoveryCodes;
}

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
  /** the second factor's strength; absent for a password-only sign-in */
  strength?: Strength;
  /** epoch seconds */
  authTime: number;
  /** the policy decision of this sign-in; absent when the policy was not asked yet (a password-less passkey) */
  policy?: AuditPolicy;
}

export type FirstFactorOutcome =
  | { kind: 'authenticated'; authentication: Authentication; enforcement?: Enforcement }
  | { kind: 'denied'; code: 'policy_denied'; identity: Identity; enforcement: Enforcement }
  | { kind: 'failed'; code: 'invalid_credentials'; reason: FailureReason }
  | { kind: 'throttled'; code: 'throttled'; retryAfterSeconds: number }
  | { kind: 'missing'; code: 'missing_credentials' }
  /** the directory that checks this user's password cannot be asked right now */
  | { kind: 'unavailable'; code: 'directory_unavailable' };

export type UpstreamOutcome =
  | { kind: 'authenticated'; authentication: Authentication; enforcement: Enforcement }
  | { kind: 'denied'; identity: Identity; enforcement: Enforcement }
  /** the provider said no, its answer did not hold up, or its user cannot be one here (`failure` says which) */
  | { kind: 'failed'; failure: string }
  | { kind: 'unavailable' };

export interface FlowSettings {
  acr: AcrValues;
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
    private readonly mfa: MfaDeps,
    /** what contextual policies remember of sign-ins: the last successful one, recent failures */
    private readonly history?: Pick<SignInHistory, 'succeeded' | 'failed'>,
    /** the durable "last sign-in" of each user, for access reviews and dormant accounts */
    private readonly signIns?: Pick<UserRepository, 'recordSignIn'>,
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

  /**
   * Checks a password. `decide` asks the contextual policy once the user is known: its decision is part of the
   * attempt's audit event, and a denial ends the sign-in here.
   */
  async passwordStep(
    username: string,
    password: string,
    ctx: AttemptContext,
    decide?: (identity: Identity) => Promise<Enforcement>,
  ): Promise<FirstFactorOutcome> {
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
    // A store that fails mid-attempt (the step answers 503) is no guess: give the reserved attempt back, as far as
    // the throttle's own store still answers.
    const unreserve = async (err: unknown): Promise<never> => {
      await this.throttle.release(account, ctx.source.ip).catch(() => undefined);
      throw err;
    };
    const result = await this.directory
      .authenticate(tooLong ? '' : username, tooLong ? '' : password, ctx)
      .catch(unreserve);
    if (!result.ok && result.code === 'directory_unavailable') {
      // nobody guessed: the attempt is given back, and the person may try again in a moment
      await this.throttle.release(account, ctx.source.ip).catch(() => undefined);
      await this.audit.append(
        this.event(ctx, {
          action: 'signin.password',
          outcome: 'failure',
          reason: 'directory_unavailable',
          subject: {
            username: account,
            known: result.userId !== undefined,
            ...(result.userId ? { id: result.userId } : {}),
          },
        }),
      );
      return { kind: 'unavailable', code: 'directory_unavailable' };
    }
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
      if (result.userId) await this.history?.failed(result.userId);
      return { kind: 'failed', code: result.code, reason: result.reason };
    }
    const { identity } = result;
    const enforcement = decide ? await decide(identity).catch(unreserve) : undefined;
    await this.audit
      .append(
        this.event(ctx, {
          action: 'signin.password',
          outcome: 'success',
          actor: { type: 'user', id: identity.id, name: identity.username },
          subject: { id: identity.id, username: identity.username, known: true },
          ...(enforcement ? { policy: enforcement.audit } : {}),
        }),
      )
      .catch(unreserve);
    await this.throttle.succeeded(account, ctx.source.ip);
    if (result.rehash) {
      result.rehash().catch((err: unknown) => this.log.warn({ err }, 'could not upgrade a password hash'));
    }
    if (enforcement?.denied) {
      await this.denied(identity, enforcement, ctx);
      return { kind: 'denied', code: 'policy_denied', identity, enforcement };
    }
    return {
      kind: 'authenticated',
      authentication: {
        identity,
        amr: ['pwd'],
        acr: this.settings.acr.password,
        authTime: Math.floor(Date.now() / 1000),
        ...(enforcement ? { policy: enforcement.audit } : {}),
      },
      ...(enforcement ? { enforcement } : {}),
    };
  }

  /**
   * A sign-in at an upstream OpenID provider came back (`result`: what the upstream directory made of the answer;
   * `unavailable`: the provider did not answer). The provider's sign-in is the first factor (amr `fed`); the policy
   * is asked, and a second factor demanded, as after a password.
   */
  async upstreamStep(
    provider: string,
    result: UpstreamResult | 'unavailable',
    ctx: AttemptContext,
    decide: (identity: Identity) => Promise<Enforcement>,
  ): Promise<UpstreamOutcome> {
    const base = { action: 'signin.upstream' as const };
    if (result === 'unavailable' || !result.ok) {
      const userId = result === 'unavailable' ? undefined : result.userId;
      const failure =
        result === 'unavailable'
          ? 'upstream_unavailable'
          : result.code === 'upstream_failed'
            ? result.failure
            : result.code === 'invalid_credentials'
              ? result.reason
              : result.code;
      await this.audit.append(
        this.event(ctx, {
          ...base,
          outcome: 'failure',
          reason: result === 'unavailable' ? 'upstream_unavailable' : 'upstream_failed',
          ...(userId ? { subject: { id: userId, known: true } } : {}),
          details: { provider, failure },
        }),
      );
      return result === 'unavailable' ? { kind: 'unavailable' } : { kind: 'failed', failure };
    }
    const { identity } = result;
    const enforcement = await decide(identity);
    await this.audit.append(
      this.event(ctx, {
        ...base,
        outcome: 'success',
        actor: { type: 'user', id: identity.id, name: identity.username },
        subject: { id: identity.id, username: identity.username, known: true },
        policy: enforcement.audit,
        details: { provider, ...(result.mfa ? { mfa: true } : {}) },
      }),
    );
    if (enforcement.denied) {
      await this.denied(identity, enforcement, ctx);
      return { kind: 'denied', identity, enforcement };
    }
    // a trusted provider's multi-factor sign-in counts as a second factor of the weakest strength
    const strength = result.mfa ? ('otp' as const) : undefined;
    return {
      kind: 'authenticated',
      authentication: {
        identity,
        amr: result.mfa ? ['fed', 'mfa'] : ['fed'],
        acr: acrFor(strength, this.settings.acr),
        ...(strength ? { strength } : {}),
        authTime: Math.floor(Date.now() / 1000),
        policy: enforcement.audit,
      },
      enforcement,
    };
  }

  /** A contextual policy refused the sign-in: recorded with the rules that decided. */
  async denied(identity: Identity, enforcement: Enforcement, ctx: AttemptContext): Promise<void> {
    await this.audit.append(
      this.event(ctx, {
        action: 'signin.denied',
        outcome: 'denied',
        reason: 'policy_denied',
        actor: { type: 'user', id: identity.id, name: identity.username },
        subject: { id: identity.id, username: identity.username, known: true },
        policy: enforcement.audit,
      }),
    );
  }

  /**
   * The sign-in is done and about to be handed back to the application. Where and when it happened becomes the
   * "previous sign-in" of the next one (impossible travel). `newBrowser`: the account never signed in with this
   * browser before (notifications.new_sign_ins), which its event says.
   */
  async completed(
    authentication: Authentication,
    ctx: AttemptContext,
    about: { newBrowser?: boolean } = {},
  ): Promise<void> {
    const { identity } = authentication;
    await this.audit.append(
      this.event(ctx, {
        action: 'signin.completed',
        outcome: 'success',
        actor: { type: 'user', id: identity.id, name: identity.username },
        subject: { id: identity.id, username: identity.username, known: true },
        ...(authentication.policy ? { policy: authentication.policy } : {}),
        details: {
          amr: authentication.amr,
          acr: authentication.acr,
          ...(about.newBrowser ? { new_browser: true } : {}),
        },
      }),
    );
    // The trail has the sign-in; the user's row only a convenience copy, not worth failing the sign-in over.
    await this.signIns
      ?.recordSignIn(identity.id)
      .catch((err: unknown) => this.log.warn({ err, user: identity.id }, 'could not note the last sign-in'));
    if (this.history) {
      const location = locationOf(ctx.source.ip);
      await this.history.succeeded(identity.id, {
        at: Date.now(),
        country: ctx.source.country ?? 'unknown',
        ...(location ? { location } : {}),
      });
    }
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

  /**
   * What must follow the first factor. The application's request (acr_values), the organisation's rule
   * (`mfa.required`) and the contextual policy's decision each state a requirement; the strictest one holds.
   */
  async requirementFor(
    identity: Identity,
    requested: Requirement,
    enforcement?: Enforcement,
  ): Promise<Requirement> {
    let requirement = stricter(requested, enforcement?.requirement ?? 'none');
    if (this.mfa.required === 'always') requirement = stricter(requirement, 'any');
    if (this.mfa.required === 'enrolled' && (await this.mfa.factors.list(identity.id)).length > 0) {
      requirement = stricter(requirement, 'any');
    }
    return requirement;
  }

  private pendingKey(uid: string): string {
    return `signin:second-factor:${uid}`;
  }

  async startSecondFactor(uid: string, pending: PendingSecondFactor): Promise<void> {
    await this.mfa.kv.set(this.pendingKey(uid), pending, this.mfa.ttlSeconds);
  }

  async pendingSecondFactor(uid: string): Promise<PendingSecondFactor | undefined> {
    return this.mfa.kv.get<PendingSecondFactor>(this.pendingKey(uid));
  }

  /** The user's factors, and which of them are strong enough for this sign-in. */
  async factorsFor(pending: PendingSecondFactor): Promise<{ all: FactorRecord[]; usable: FactorRecord[] }> {
    const all = (await this.mfa.factors.list(pending.userId)).filter((f) => this.mfa.kinds.has(f.kind));
    return { all, usable: all.filter((f) => satisfies(FACTOR_STRENGTH[f.kind], pending.requirement)) };
  }

  handler(kind: FactorKind): SecondFactor | undefined {
    return this.mfa.kinds.get(kind);
  }

  /**
   * Checks a second factor. Wrong codes count toward the same per-account throttle as passwords, reserved before
   * the check, so parallel guesses cannot get past it either.
   */
  async secondFactorStep(
    uid: string,
    factorId: string,
    input: Record<string, string>,
    ctx: AttemptContext,
  ): Promise<SecondFactorOutcome> {
    const pending = await this.pendingSecondFactor(uid);
    if (!pending) return { kind: 'expired' };
    if (factorId === RECOVERY_FACTOR_ID) return this.recoveryCodeStep(uid, pending, input.code ?? '', ctx);
    const identity = await this.directory.findById(pending.userId);
    const { usable } = await this.factorsFor(pending);
    const factor = usable.find((f) => f.id === factorId);
    const handler = factor ? this.mfa.kinds.get(factor.kind) : undefined;
    if (!identity || !factor || !handler) return { kind: 'failed', reason: 'not_enrolled' };
    const outcome = await this.guardedCheck(
      uid,
      identity,
      ctx,
      { factor: factor.kind, factor_id: factor.id },
      () => handler.verify({ binding: uid, user: identity, factor, ip: ctx.source.ip }, input),
    );
    if (outcome.kind !== 'passed') return outcome;
    const check = outcome.result;
    const amr = [...new Set([...pending.amr, ...check.amr, 'mfa'])];
    return {
      kind: 'authenticated',
      factor: check.factor,
      authentication: {
        identity,
        amr,
        acr: acrFor(check.strength, this.settings.acr),
        strength: check.strength,
        authTime: Math.floor(Date.now() / 1000),
        ...(pending.policy ? { policy: pending.policy } : {}),
      },
    };
  }

  /**
   * What every second-factor check shares: an attempt is reserved (per account and IP) before checking, so parallel
   * guesses cannot pass the throttle; the result is audited (never the code); failures count for the policy's
   * failed_attempts; success clears the account's count and the pending sign-in. A request for a new code is no
   * guess: its attempt is given back, and the send is recorded.
   */
  private async guardedCheck<T extends { ok: true } | { ok: false; reason: string }>(
    uid: string,
    identity: Identity,
    ctx: AttemptContext,
    details: Record<string, unknown>,
    check: () => Promise<T>,
    successDetails: (result: Extract<T, { ok: true }>) => Record<string, unknown> = () => ({}),
  ): Promise<
    | { kind: 'throttled'; retryAfterSeconds: number }
    | { kind: 'failed'; reason: string }
    | { kind: 'passed'; result: Extract<T, { ok: true }> }
  > {
    const subject = { id: identity.id, username: identity.username, known: true };
    const actor = { type: 'user' as const, id: identity.id, name: identity.username };
    const reservation = await this.throttle.reserveFor(identity.username, ctx.source.ip);
    if (!reservation.allowed) {
      await this.audit.append(
        this.event(ctx, {
          action: 'signin.throttled',
          outcome: 'denied',
          reason: 'throttled',
          actor,
          subject,
          details,
        }),
      );
      return { kind: 'throttled', retryAfterSeconds: reservation.retryAfterSeconds };
    }
    const result = await check();
    if (!result.ok) {
      const { reason } = result as { ok: false; reason: string };
      if (reason === 'code_sent' || reason === 'code_not_sent') {
        await this.throttle.release(identity.username, ctx.source.ip);
        await this.audit.append(
          this.event(ctx, {
            action: 'mfa.code_sent',
            outcome: reason === 'code_sent' ? 'success' : 'failure',
            ...(reason === 'code_not_sent' ? { reason } : {}),
            actor,
            subject,
            details,
          }),
        );
        return { kind: 'failed', reason };
      }
      await this.audit.append(
        this.event(ctx, { action: 'signin.mfa', outcome: 'failure', reason, actor, subject, details }),
      );
      await this.history?.failed(identity.id);
      return { kind: 'failed', reason };
    }
    const passed = result as Extract<T, { ok: true }>;
    await this.audit.append(
      this.event(ctx, {
        action: 'signin.mfa',
        outcome: 'success',
        actor,
        subject,
        details: { ...details, ...successDetails(passed) },
      }),
    );
    await this.throttle.succeeded(identity.username, ctx.source.ip);
    await this.mfa.kv.delete(this.pendingKey(uid));
    return { kind: 'passed', result: passed };
  }

  /** Whether this sign-in may use a recovery code: the user has unused ones and their strength is enough. */
  async recoveryOffered(pending: PendingSecondFactor): Promise<boolean> {
    return (
      this.mfa.recovery !== undefined &&
      satisfies(RECOVERY_CODE_STRENGTH, pending.requirement) &&
      (await this.mfa.recovery.remaining(pending.userId)) > 0
    );
  }

  private recoveredKey(uid: string): string {
    return `signin:recovered:${uid}`;
  }

  /**
   * A recovery code in place of a factor: throttled and audited like one (the code itself never), then held until
   * the user has read how many codes are left and continues (`finishRecovered`).
   */
  private async recoveryCodeStep(
    uid: string,
    pending: PendingSecondFactor,
    code: string,
    ctx: AttemptContext,
  ): Promise<SecondFactorOutcome> {
    const identity = await this.directory.findById(pending.userId);
    const recovery = this.mfa.recovery;
    if (!identity || !recovery || !(await this.recoveryOffered(pending)))
      return { kind: 'failed', reason: 'not_enrolled' };
    const outcome = await this.guardedCheck(
      uid,
      identity,
      ctx,
      { factor: 'recovery_code' },
      () => recovery.use(identity.id, code),
      (used) => ({ remaining: used.remaining }),
    );
    if (outcome.kind !== 'passed') return outcome;
    const used = outcome.result;
    const authentication: Authentication = {
      identity,
      amr: [...new Set([...pending.amr, ...RECOVERY_CODE_AMR, 'mfa'])],
      acr: acrFor(RECOVERY_CODE_STRENGTH, this.settings.acr),
      strength: RECOVERY_CODE_STRENGTH,
      authTime: Math.floor(Date.now() / 1000),
      ...(pending.policy ? { policy: pending.policy } : {}),
    };
    await this.mfa.kv.set(this.recoveredKey(uid), authentication, this.mfa.ttlSeconds);
    return { kind: 'recovered', authentication, remaining: used.remaining };
  }

  /** The sign-in a recovery code completed, once: undefined when it was taken already or has expired. */
  async finishRecovered(uid: string): Promise<Authentication | undefined> {
    return this.mfa.kv.update<Authentication, Authentication | undefined>(
      this.recoveredKey(uid),
      (current) => ({
        value: undefined,
        result: current,
      }),
    );
  }

  /** The sign-in needs a second factor the user does not have (and may not enrol here): refused, and recorded. */
  async noUsableFactor(identity: Identity, requirement: Requirement, ctx: AttemptContext): Promise<void> {
    await this.audit.append(
      this.event(ctx, {
        action: 'signin.denied',
        outcome: 'denied',
        reason: 'mfa_not_enrolled',
        actor: { type: 'user', id: identity.id, name: identity.username },
        subject: { id: identity.id, username: identity.username, known: true },
        details: { requirement },
      }),
    );
  }
}
