import type { BatchOp, KeyValueStore, Update } from './kv.js';

/**
 * A key-value store opened at its first use. The CLI gets one: most commands touch durable data only, and an
 * administrator must be able to disable an account or register a client while Redis is down.
 */
export class LazyKeyValueStore implements KeyValueStore {
  #opening: Promise<KeyValueStore> | undefined;

  constructor(private readonly open: () => Promise<KeyValueStore>) {}

  #store(): Promise<KeyValueStore> {
    this.#opening ??= this.open().catch((err: unknown) => {
      // the next use tries again
      this.#opening = undefined;
      throw err;
    });
    return this.#opening;
  }

  async get<T>(key: string): Promise<T | undefined> {
    return (await this.#store()).get<T>(key);
  }

  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    return (await this.#store()).set(key, value, ttlSeconds);
  }

  async delete(key: string): Promise<void> {
    return (await this.#store()).delete(key);
  }

  async update<T, R>(key: string, fn: (current: T | undefined, now: number) => Update<T, R>): Promise<R> {
    return (await this.#store()).update(key, fn);
  }

  async indexAdd(index: string, member: string, ttlSeconds?: number): Promise<void> {
    return (await this.#store()).indexAdd(index, member, ttlSeconds);
  }

  async deleteIndexed(index: string): Promise<void> {
    return (await this.#store()).deleteIndexed(index);
  }

  async indexedKeys(index: string): Promise<string[]> {
    return (await this.#store()).indexedKeys(index);
  }

  async batch(ops: BatchOp[]): Promise<void> {
    return (await this.#store()).batch(ops);
  }

  async ping(): Promise<void> {
    return (await this.#store()).ping();
  }

  /** Closes the store if it was opened; one still opening is closed once it is open. */
  async close(): Promise<void> {
    const opening = this.#opening;
    this.#opening = undefined;
    if (!opening) return;
    let store: KeyValueStore;
    try {
      store = await opening;
    } catch {
      return;
    }
    await store.close();
  }
}
