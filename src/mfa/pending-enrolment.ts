import { open, seal } from '../keys/secret-box.js';
import type { KeyValueStore } from '../store/kv.js';
import { FactorError } from './factors.js';
import type { EnrolContext, EnrolResult, FactorKind, SecondFactor } from './factor.js';

/** An enrolment between its setup page and the user's proof: the kind, its state and the page it showed. */
export interface PendingEnrolment {
  kind: FactorKind;
  state: unknown;
  view: string;
  vars: Record<string, unknown>;
  /** epoch ms */
  expiresAt: number;
}

/**
 * Enrolments in progress, one per binding (a sign-in's uid, an account session). The state holds secrets (a new
 * TOTP seed, the QR code that shows it, a challenge), so it is sealed with Poort's secret material and bound to its
 * binding before it goes to the key-value store. The page is kept too: after a wrong code the user sees the same QR
 * code again, not a new seed they have not scanned.
 */
export class PendingEnrolments {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly encryptionKey: Buffer,
    private readonly ttlSeconds: number,
  ) {}

  private key(binding: string): string {
    return `enrol:pending:${binding}`;
  }

  private context(binding: string): string {
    return `enrolment:${binding}`;
  }

  private async store(binding: string, pending: PendingEnrolment): Promise<void> {
    const ttl = Math.ceil((pending.expiresAt - Date.now()) / 1000);
    if (ttl <= 0) return;
    const sealed = seal(this.encryptionKey, JSON.stringify(pending), this.context(binding));
    await this.kv.set(this.key(binding), sealed, ttl);
  }

  private unseal(binding: string, sealed: string | undefined): PendingEnrolment | undefined {
    if (typeof sealed !== 'string') return undefined;
    try {
      return JSON.parse(open(this.encryptionKey, sealed, this.context(binding))) as PendingEnrolment;
    } catch {
      return undefined;
    }
  }

  /** Starts (or restarts) an enrolment of `handler`'s kind; replaces any other one of this binding. */
  async begin(
    handler: SecondFactor,
    ctx: EnrolContext,
    input: Record<string, string>,
  ): Promise<PendingEnrolment | undefined> {
    if (!handler.enrolment) return undefined;
    const { view, vars, state } = await handler.enrolment.begin(ctx, input);
    const pending: PendingEnrolment = {
      kind: handler.kind,
      state,
      view,
      vars,
      expiresAt: Date.now() + this.ttlSeconds * 1000,
    };
    await this.store(ctx.binding, pending);
    return pending;
  }

  async current(binding: string): Promise<PendingEnrolment | undefined> {
    return this.unseal(binding, await this.kv.get<string>(this.key(binding)));
  }

  /**
   * Checks the user's proof. The pending enrolment is taken out of the store first, so two requests racing with
   * the same proof cannot both add a factor; after a failed check it is put back for another try.
   */
  async finish(
    handler: SecondFactor,
    ctx: EnrolContext,
    input: Record<string, string>,
  ): Promise<EnrolResult & { pending?: PendingEnrolment }> {
    const sealed = await this.kv.update<string, string | undefined>(this.key(ctx.binding), (current) => ({
      value: undefined,
      result: current,
    }));
    const pending = this.unseal(ctx.binding, sealed);
    if (!pending || pending.kind !== handler.kind || !handler.enrolment)
      return { ok: false, reason: 'expired' };
    let result: EnrolResult;
    try {
      result = await handler.enrolment.finish(ctx, pending.state, input);
    } catch (err) {
      if (!(err instanceof FactorError)) throw err;
      result = { ok: false, reason: err.code === 'exists' ? 'exists' : 'invalid' };
    }
    if (!result.ok) {
      await this.store(ctx.binding, pending);
      return { ...result, pending };
    }
    return result;
  }

  async clear(binding: string): Promise<void> {
    await this.kv.delete(this.key(binding));
  }
}
