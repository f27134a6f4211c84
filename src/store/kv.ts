/**
 * Ephemeral state with time-to-live: protocol state, throttling counters, challenges.
 * Implemented on SQLite for the embedded default; every operation is atomic on its own.
 */
export interface KeyValueStore {
  get<T>(key: string): Promise<T | undefined>;
  /** Stores a value; without ttlSeconds it does not expire. */
  set(key: string, value: unknown, ttlSeconds?: number): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Atomic read-modify-write. `fn` sees the current value (undefined when absent or expired) and returns
   * the new value (undefined deletes it), its TTL (undefined keeps the current expiry) and a result to pass back.
   * `fn` must be pure: a backend may call it more than once.
   */
  update<T, R>(key: string, fn: (current: T | undefined, now: number) => Update<T, R>): Promise<R>;
  /** Records `member` (a key) under `index`, so that deleteIndexed can remove them together. */
  indexAdd(index: string, member: string, ttlSeconds?: number): Promise<void>;
  /** Atomically deletes every key recorded under `index`, and the index. */
  deleteIndexed(index: string): Promise<void>;
  /** The keys recorded under `index` (some may have expired since). */
  indexedKeys(index: string): Promise<string[]>;
  /** Several writes in one atomic step (one commit): stores and index entries that belong together. */
  batch(ops: BatchOp[]): Promise<void>;
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Reads a value and deletes it in one atomic step: of several readers, one gets it (a state, a one-time record). */
export function takeOnce<T>(kv: Pick<KeyValueStore, 'update'>, key: string): Promise<T | undefined> {
  return kv.update<T, T | undefined>(key, (current) => ({ value: undefined, result: current }));
}

export interface Update<T, R> {
  value: T | undefined;
  ttlSeconds?: number;
  result: R;
}

export type BatchOp =
  | { op: 'set'; key: string; value: unknown; ttlSeconds?: number }
  | { op: 'indexAdd'; index: string; member: string; ttlSeconds?: number };
