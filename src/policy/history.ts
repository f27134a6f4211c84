import type { KeyValueStore } from '../store/kv.js';
import type { GeoPoint } from './types.js';

/** Where and when a user last signed in successfully: the other end of an impossible journey. */
export interface PreviousSignIn {
  /** epoch milliseconds */
  at: number;
  country: string;
  location?: GeoPoint;
}

/** More failures than this within the window are not kept apart: a rule counting them needs no more. */
const MAX_FAILURES = 100;

/** How long the last successful sign-in is remembered: a journey from longer ago is possible at any speed. */
const PREVIOUS_TTL = 90 * 86400;

/**
 * What the policy context remembers of a user's sign-ins, in the key-value store: the last successful one and the
 * times of recent failed attempts (for as long as the active policy's `failed_attempts` conditions look back).
 */
export class SignInHistory {
  constructor(
    private readonly kv: KeyValueStore,
    /** how long the active policy looks back at failed attempts, seconds (it may change while running) */
    private readonly failuresWindow: () => Promise<number>,
  ) {}

  private previousKey(userId: string): string {
    return `policy:previous:${userId}`;
  }

  private failuresKey(userId: string): string {
    return `policy:failures:${userId}`;
  }

  async previous(userId: string): Promise<PreviousSignIn | undefined> {
    return this.kv.get<PreviousSignIn>(this.previousKey(userId));
  }

  async succeeded(userId: string, signIn: PreviousSignIn): Promise<void> {
    await this.kv.set(this.previousKey(userId), signIn, PREVIOUS_TTL);
  }

  /** The user's recent failed attempts (epoch milliseconds), oldest first; conditions count within their window. */
  async failures(userId: string): Promise<number[]> {
    return (await this.kv.get<number[]>(this.failuresKey(userId))) ?? [];
  }

  async failed(userId: string, at = Date.now()): Promise<void> {
    const window = Math.max(1, Math.ceil(await this.failuresWindow()));
    const since = at - window * 1000;
    await this.kv.update<number[], void>(this.failuresKey(userId), (current) => ({
      value: [...(current ?? []).filter((t) => t > since), at].slice(-MAX_FAILURES),
      ttlSeconds: window,
      result: undefined,
    }));
  }
}
