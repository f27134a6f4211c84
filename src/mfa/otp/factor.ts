import crypto from 'node:crypto';
import type { Logger } from '../../log/logger.js';
import { errorMessage, type MessageSender } from '../../notify/sender.js';
import type {
  ChallengeContext,
  EnrolContext,
  Enrolment,
  EnrolResult,
  FactorCheck,
  SecondFactor,
} from '../factor.js';
import type { FactorRepository, FactorWithSecret } from '../factors.js';
import { isActive, type OneTimeCodes } from './codes.js';
import { maskDestination, parseDestination, type Channel } from './destination.js';
import { codeMessage, lifetimeParts, type MessageSettings } from './messages.js';
import type { SendLimiter } from './send-limit.js';

export interface OtpFactorDeps {
  kind: Channel;
  factors: FactorRepository;
  codes: OneTimeCodes;
  limiter: SendLimiter;
  sender: MessageSender;
  /** language and organisation of the messages, and the codes' lifetime */
  message: MessageSettings;
  log: Logger;
}

type Delivery = 'sent' | 'limited' | 'failed';

/** What an enrolment keeps between sending the code and checking it (sealed by the caller). */
interface EnrolState {
  destination: string;
}

function isEnrolState(state: unknown): state is EnrolState {
  return typeof (state as EnrolState | null | undefined)?.destination === 'string';
}

/**
 * One-time codes sent by e-mail (`email`, amr `otp`) or text message (`sms`, amr `sms`; RFC 8176). The factor's
 * secret is the address or number. A code is six random digits, kept only as an argon2id hash with its expiry and a
 * count of wrong guesses; it is used once. Sending is limited per user and per client IP.
 *
 * The first view of the page for a sign-in sends a code; later views (after a wrong code, a reload) show the code
 * field again without sending, and the page's "send a new code" button (`action=send`) sends another.
 */
export class OtpFactor implements SecondFactor {
  readonly kind: Channel;
  readonly strength = 'otp' as const;
  readonly amr: readonly string[];
  readonly enrolment: Enrolment;

  constructor(private readonly deps: OtpFactorDeps) {
    this.kind = deps.kind;
    this.amr = deps.kind === 'sms' ? ['sms'] : ['otp'];
    this.enrolment = {
      begin: (ctx, input) => this.beginEnrolment(ctx, input),
      finish: (ctx, state, input) => this.finishEnrolment(ctx, state, input),
    };
  }

  private challengeKey(ctx: ChallengeContext): string {
    return `otp:challenge:${ctx.binding}:${ctx.factor.id}`;
  }

  private enrolKey(ctx: EnrolContext): string {
    return `otp:enrol:${this.kind}:${ctx.binding}`;
  }

  /** Ties an enrolment's code to the address it was sent to, without keeping the address in the store. */
  private digest(ctx: EnrolContext, destination: string): string {
    return crypto.createHash('sha256').update(`${ctx.binding}\n${destination}`).digest('base64url');
  }

  private async stored(ctx: ChallengeContext): Promise<FactorWithSecret<string> | undefined> {
    const stored = await this.deps.factors.withSecret<string>(ctx.factor.id);
    if (!stored || stored.record.userId !== ctx.user.id || stored.record.kind !== this.kind) return undefined;
    return typeof stored.secret === 'string' ? stored : undefined;
  }

  /** Sends a new code to `destination` if the limits allow; the code itself goes nowhere else. */
  private async deliver(
    userId: string,
    ip: string,
    key: string,
    destination: string,
    purpose: 'signin' | 'enrol',
    message: MessageSettings,
    boundTo?: string,
  ): Promise<Delivery> {
    const { codes, limiter, sender, log } = this.deps;
    const fields = { kind: this.kind, purpose, user: userId, to: maskDestination(this.kind, destination) };
    if (!(await limiter.reserveFor(userId, ip))) {
      log.warn({ event: 'otp.send_limited', ...fields, ip }, 'one-time code not sent: send limit reached');
      return 'limited';
    }
    const issued = await codes.issue(key, boundTo);
    try {
      await sender.send(destination, codeMessage(this.kind, purpose, issued.code, message));
    } catch (err) {
      await codes.withdraw(key, issued.id);
      log.error(
        { event: 'otp.send_failed', ...fields, sender: sender.description, error: errorMessage(err) },
        'could not send a one-time code',
      );
      return 'failed';
    }
    log.info({ event: 'otp.sent', ...fields }, 'one-time code sent');
    return 'sent';
  }

  private pageVars(masked: string, active: boolean, notice?: 'sent' | 'not_sent') {
    return {
      kind: this.kind,
      masked,
      sent: active,
      lifetime: lifetimeParts(this.deps.message.lifetime),
      ...(notice ? { notice } : {}),
    };
  }

  async challenge(ctx: ChallengeContext) {
    const stored = await this.stored(ctx);
    const key = this.challengeKey(ctx);
    let notice: 'not_sent' | undefined;
    if (stored && (await this.deps.codes.claim(key))) {
      const delivery = await this.deliver(
        ctx.user.id,
        ctx.ip,
        key,
        stored.secret,
        'signin',
        this.deps.message,
      );
      if (delivery !== 'sent') notice = 'not_sent';
    }
    const record = await this.deps.codes.get(key);
    const active = isActive(record?.code, Date.now(), this.deps.codes.settings.maxTries);
    return {
      view: 'mfa/otp',
      vars: {
        factor: ctx.factor,
        otp: this.pageVars(stored ? maskDestination(this.kind, stored.secret) : '', active, notice),
      },
    };
  }

  async verify(ctx: ChallengeContext, input: Record<string, string>): Promise<FactorCheck> {
    const stored = await this.stored(ctx);
    if (!stored) return { ok: false, reason: 'not_enrolled' };
    const key = this.challengeKey(ctx);
    if (input.action === 'send') {
      // Counts as seen, so the page shown next does not send yet another code.
      await this.deps.codes.claim(key);
      const delivery = await this.deliver(
        ctx.user.id,
        ctx.ip,
        key,
        stored.secret,
        'signin',
        this.deps.message,
      );
      return { ok: false, reason: delivery === 'sent' ? 'code_sent' : 'code_not_sent' };
    }
    const result = await this.deps.codes.check(key, input.code ?? '');
    if (result !== 'ok') return { ok: false, reason: result };
    await this.deps.factors.recordUse(stored.record.id, stored.stateText, stored.state);
    return { ok: true, factor: stored.record, amr: [...this.amr], strength: this.strength };
  }

  private enrolPage(ctx: EnrolContext, step: 'destination' | 'code', vars: Record<string, unknown>) {
    return {
      view: `enrol/${this.kind}`,
      vars: { action: ctx.action, csrf: ctx.csrf, otp: { kind: this.kind, step, ...vars } },
    };
  }

  /** Whether the user has this address (compared without regard to case: mailboxes are, in practice) already. */
  private async alreadyEnrolled(userId: string, destination: string): Promise<boolean> {
    const mine = (await this.deps.factors.list(userId)).filter((f) => f.kind === this.kind);
    for (const factor of mine) {
      const secret = (await this.deps.factors.withSecret<string>(factor.id))?.secret;
      if (typeof secret === 'string' && secret.toLowerCase() === destination.toLowerCase()) return true;
    }
    return false;
  }

  /**
   * Without a destination: the form asking for one. With one (`destination`, posted with `action=send`): checks it,
   * sends a code to it and shows the code form; the state names the destination the code proves.
   */
  private async beginEnrolment(
    ctx: EnrolContext,
    input: Record<string, string>,
  ): Promise<{ view: string; vars: Record<string, unknown>; state: unknown }> {
    const typed = (input.destination ?? '').trim().slice(0, 254);
    if (!typed) return { ...this.enrolPage(ctx, 'destination', {}), state: null };
    const destination = parseDestination(this.kind, typed);
    if (!destination) {
      return {
        ...this.enrolPage(ctx, 'destination', { destination: typed, problem: 'invalid_destination' }),
        state: null,
      };
    }
    if (await this.alreadyEnrolled(ctx.user.id, destination)) {
      return {
        ...this.enrolPage(ctx, 'destination', { destination, problem: 'already_enrolled' }),
        state: null,
      };
    }
    const key = this.enrolKey(ctx);
    const boundTo = this.digest(ctx, destination);
    const message = { ...this.deps.message, organisation: ctx.organisation };
    const delivery = await this.deliver(ctx.user.id, ctx.ip, key, destination, 'enrol', message, boundTo);
    const masked = maskDestination(this.kind, destination);
    const state: EnrolState = { destination };
    if (delivery === 'sent') {
      return {
        ...this.enrolPage(ctx, 'code', { ...this.pageVars(masked, true, 'sent'), destination }),
        state,
      };
    }
    // Nothing new was sent, but an earlier code to the same address still works.
    const record = await this.deps.codes.get(key);
    if (record?.boundTo === boundTo && isActive(record.code, Date.now(), this.deps.codes.settings.maxTries)) {
      return {
        ...this.enrolPage(ctx, 'code', { ...this.pageVars(masked, true, 'not_sent'), destination }),
        state,
      };
    }
    return { ...this.enrolPage(ctx, 'destination', { destination, problem: 'not_sent' }), state: null };
  }

  /** Checks the code sent by `begin`; then the address or number becomes a factor (named as typed, or masked). */
  private async finishEnrolment(
    ctx: EnrolContext,
    state: unknown,
    input: Record<string, string>,
  ): Promise<EnrolResult> {
    if (!isEnrolState(state)) return { ok: false, reason: 'expired' };
    const key = this.enrolKey(ctx);
    const result = await this.deps.codes.check(key, input.code ?? '', this.digest(ctx, state.destination));
    if (result !== 'ok') return { ok: false, reason: result };
    await this.deps.codes.forget(key);
    const factor = await this.deps.factors.add({
      userId: ctx.user.id,
      kind: this.kind,
      name: (input.name ?? '').trim() || maskDestination(this.kind, state.destination),
      secret: state.destination,
    });
    return { ok: true, factor };
  }
}
