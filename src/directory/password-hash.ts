import crypto from 'node:crypto';
import argon2 from 'argon2';
import { argon2Concurrency, Slots } from './hashing-slots.js';

/** every hasher of this process shares the cores and libuv's thread pool: one limit for all of them */
const slots = new Slots(argon2Concurrency());

export interface Argon2Params {
  memory_kib: number;
  iterations: number;
  parallelism: number;
}

/**
 * argon2id for every password; verify against a dummy hash when there is no user, so unknown users cost the same.
 * Hashes and verifies take turns in `argon2Concurrency()` slots (see there), the dummy too.
 */
export class PasswordHasher {
  readonly #options;
  #dummy: Promise<string> | undefined;

  constructor(params: Argon2Params) {
    this.#options = {
      type: argon2.argon2id,
      memoryCost: params.memory_kib,
      timeCost: params.iterations,
      parallelism: params.parallelism,
    } as const;
  }

  hash(password: string): Promise<string> {
    return slots.run(() => argon2.hash(password, this.#options));
  }

  async verify(hash: string, password: string): Promise<boolean> {
    try {
      return await slots.run(() => argon2.verify(hash, password));
    } catch {
      return false;
    }
  }

  /** Makes the dummy hash now, so the first unknown user costs one verification like every later one. */
  async warm(): Promise<void> {
    this.#dummy ??= this.hash(crypto.randomBytes(32).toString('base64url'));
    await this.#dummy;
  }

  /** Spends the time of one verification and always fails. */
  async verifyDummy(password: string): Promise<false> {
    this.#dummy ??= this.hash(crypto.randomBytes(32).toString('base64url'));
    await this.verify(await this.#dummy, password);
    return false;
  }

  /** True when a stored hash was made with other parameters than the configured ones. */
  needsRehash(hash: string): boolean {
    return argon2.needsRehash(hash, this.#options);
  }
}
