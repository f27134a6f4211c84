import crypto from 'node:crypto';
import os from 'node:os';
import type { KeyValueStore, Update } from './kv.js';

/** Who holds a lease, as stored under its key (the key's TTL is the lease's end). */
export interface LeaseRecord {
  holder: string;
  /** when this holder took it (ms since the epoch) */
  since: number;
}

/**
 * Take the lease when it is free, renew it when `holder` has it already; leave another holder's alone. A record that
 * is not a lease (written by hand, perhaps without a TTL) counts as free: it must not keep every node from the task.
 */
export function claimLease(
  current: LeaseRecord | undefined,
  holder: string,
  now: number,
  ttlSeconds: number,
): Update<LeaseRecord, boolean> {
  if (typeof current?.holder !== 'string') return { value: { holder, since: now }, ttlSeconds, result: true };
  if (current.holder === holder) return { value: current, ttlSeconds, result: true };
  return { value: current, result: false };
}

/** Give the lease up, if `holder` has it. */
export function releaseLease(current: LeaseRecord | undefined, holder: string): Update<LeaseRecord, boolean> {
  return current?.holder === holder ? { value: undefined, result: true } : { value: current, result: false };
}

export interface LeaseOptions {
  /** how long the lease lasts without renewal: how long the others wait when its holder dies; default 15 s */
  ttlSeconds?: number;
  /** this process's name in the store; default host, pid and a random part */
  holder?: string;
  clock?: () => number;
}

/**
 * A task that one node of several does at a time (shipping the audit trail): a key in the shared key-value store,
 * held for `ttlSeconds` and renewed once a third of that has passed. A node counts the lease as its own only until
 * `ttlSeconds` after it *asked* for it, so it stops before the store lets another node take over; a node that died
 * holding it is replaced once the TTL ran out.
 */
export class Lease {
  readonly holder: string;
  readonly #kv: Pick<KeyValueStore, 'update'>;
  readonly #key: string;
  readonly #ttlMs: number;
  readonly #clock: () => number;
  #validUntil = 0;
  #renewAt = 0;
  #asking?: Promise<boolean>;
  #released = false;

  constructor(kv: Pick<KeyValueStore, 'update'>, key: string, options: LeaseOptions = {}) {
    this.#kv = kv;
    this.#key = key;
    this.#ttlMs = (options.ttlSeconds ?? 15) * 1000;
    this.#clock = options.clock ?? Date.now;
    this.holder =
      options.holder ?? `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  }

  /** Whether this process holds the lease now, by its own count (no store round trip). */
  held(): boolean {
    return this.#clock() < this.#validUntil;
  }

  /**
   * Takes the lease when it is free, renews it when a third of its time has passed, and says whether this process
   * holds it. Callers at the same moment share one request. A store that cannot be reached counts as not held.
   */
  hold(): Promise<boolean> {
    if (this.#released) return Promise.resolve(false);
    const now = this.#clock();
    if (now < this.#renewAt) return Promise.resolve(true);
    this.#asking ??= this.#ask(now).finally(() => (this.#asking = undefined));
    return this.#asking;
  }

  async #ask(asked: number): Promise<boolean> {
    const ttlSeconds = this.#ttlMs / 1000;
    let mine: boolean;
    try {
      mine = await this.#kv.update<LeaseRecord, boolean>(this.#key, (current, now) =>
        claimLease(current, this.holder, now, ttlSeconds),
      );
    } catch {
      mine = false;
    }
    this.#validUntil = mine ? asked + this.#ttlMs : 0;
    this.#renewAt = mine ? asked + this.#ttlMs / 3 : 0;
    return mine;
  }

  /**
   * Gives the lease up for good (at a clean stop), so that another node takes over at once: this process does not
   * take it again. Does nothing to a lease another node holds.
   */
  async release(): Promise<void> {
    this.#released = true;
    await this.#asking;
    this.#validUntil = 0;
    this.#renewAt = 0;
    await this.#kv.update<LeaseRecord, boolean>(this.#key, (current) => releaseLease(current, this.holder));
  }
}
