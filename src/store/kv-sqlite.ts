import path from 'node:path';
import type SQLite from 'better-sqlite3';
import { openSqliteFile } from './database.js';
import type { BatchOp, KeyValueStore, Update } from './kv.js';

const SWEEP_INTERVAL_MS = 60_000;

/**
 * The key-value store on its own SQLite file (data/ephemeral.sqlite), apart from durable data.
 * better-sqlite3 is synchronous, so each method runs to completion before any other request is served;
 * across processes (server and CLI) SQLite's write lock serialises the transactions.
 */
export class SqliteKeyValueStore implements KeyValueStore {
  readonly #db: SQLite.Database;
  readonly #stmt;
  readonly #updateTx;
  readonly #deleteIndexedTx;
  readonly #batchTx;
  #pending:
    { ops: BatchOp[]; waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> } | undefined;
  readonly #sweeper: NodeJS.Timeout;

  constructor(file: string) {
    this.#db = openSqliteFile(file);
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires_at) WHERE expires_at IS NOT NULL;
      CREATE TABLE IF NOT EXISTS kv_index (idx TEXT NOT NULL, member TEXT NOT NULL, expires_at INTEGER,
        PRIMARY KEY (idx, member)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS kv_index_expires ON kv_index (expires_at) WHERE expires_at IS NOT NULL;
    `);
    const db = this.#db;
    this.#stmt = {
      get: db.prepare<[string, number], { value: string; expires_at: number | null }>(
        'SELECT value, expires_at FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)',
      ),
      set: db.prepare<[string, string, number | null]>(
        'INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at',
      ),
      delete: db.prepare<[string]>('DELETE FROM kv WHERE key = ?'),
      indexAdd: db.prepare<[string, string, number | null]>(
        `INSERT INTO kv_index (idx, member, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (idx, member) DO UPDATE SET expires_at = CASE
           WHEN kv_index.expires_at IS NULL OR excluded.expires_at IS NULL THEN NULL
           ELSE max(kv_index.expires_at, excluded.expires_at) END`,
      ),
      indexMembers: db.prepare<[string], { member: string }>('SELECT member FROM kv_index WHERE idx = ?'),
      liveIndexMembers: db.prepare<[string, number], { member: string }>(
        'SELECT member FROM kv_index WHERE idx = ? AND (expires_at IS NULL OR expires_at > ?)',
      ),
      indexDelete: db.prepare<[string]>('DELETE FROM kv_index WHERE idx = ?'),
      sweep: db.prepare<[number]>('DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?'),
      sweepIndex: db.prepare<[number]>(
        'DELETE FROM kv_index WHERE expires_at IS NOT NULL AND expires_at <= ?',
      ),
    };
    this.#updateTx = db.transaction(
      <T, R>(key: string, fn: (c: T | undefined, now: number) => Update<T, R>): R => {
        const now = Date.now();
        const row = this.#stmt.get.get(key, now);
        const out = fn(row ? (JSON.parse(row.value) as T) : undefined, now);
        if (out.value === undefined) {
          if (row) this.#stmt.delete.run(key);
        } else {
          const expiresAt =
            out.ttlSeconds !== undefined ? now + out.ttlSeconds * 1000 : (row?.expires_at ?? null);
          this.#stmt.set.run(key, JSON.stringify(out.value), expiresAt);
        }
        return out.result;
      },
    );
    this.#deleteIndexedTx = db.transaction((index: string) => {
      for (const { member } of this.#stmt.indexMembers.all(index)) this.#stmt.delete.run(member);
      this.#stmt.indexDelete.run(index);
    });
    this.#batchTx = db.transaction((ops: BatchOp[]) => {
      const now = Date.now();
      for (const o of ops) {
        const expiresAt = o.ttlSeconds !== undefined ? now + o.ttlSeconds * 1000 : null;
        if (o.op === 'set') this.#stmt.set.run(o.key, JSON.stringify(o.value), expiresAt);
        else this.#stmt.indexAdd.run(o.index, o.member, expiresAt);
      }
    });
    this.#sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  static inDataDir(dataDir: string): SqliteKeyValueStore {
    return new SqliteKeyValueStore(path.join(dataDir, 'ephemeral.sqlite'));
  }

  /**
   * Writes wait for the end of the current turn of the event loop and go to SQLite together, in one commit (group
   * commit); each caller is answered once its write is stored. Every read and read-modify-write first commits what
   * is waiting, so this process always reads its own writes.
   */
  private enqueue(ops: BatchOp[]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.#pending) {
        this.#pending = { ops: [], waiters: [] };
        setImmediate(() => this.flush());
      }
      this.#pending.ops.push(...ops);
      this.#pending.waiters.push({ resolve, reject });
    });
  }

  private flush(): void {
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = undefined;
    try {
      this.#batchTx.immediate(pending.ops);
    } catch (err) {
      for (const w of pending.waiters) w.reject(err);
      return;
    }
    for (const w of pending.waiters) w.resolve();
  }

  async get<T>(key: string): Promise<T | undefined> {
    this.flush();
    const row = this.#stmt.get.get(key, Date.now());
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    return this.enqueue([{ op: 'set', key, value, ttlSeconds }]);
  }

  async delete(key: string): Promise<void> {
    this.flush();
    this.#stmt.delete.run(key);
  }

  async update<T, R>(key: string, fn: (current: T | undefined, now: number) => Update<T, R>): Promise<R> {
    this.flush();
    return this.#updateTx.immediate(key, fn as (c: unknown, now: number) => Update<unknown, unknown>) as R;
  }

  indexAdd(index: string, member: string, ttlSeconds?: number): Promise<void> {
    return this.enqueue([{ op: 'indexAdd', index, member, ttlSeconds }]);
  }

  async deleteIndexed(index: string): Promise<void> {
    this.flush();
    this.#deleteIndexedTx.immediate(index);
  }

  async indexedKeys(index: string): Promise<string[]> {
    this.flush();
    return this.#stmt.liveIndexMembers.all(index, Date.now()).map((r) => r.member);
  }

  batch(ops: BatchOp[]): Promise<void> {
    return this.enqueue(ops);
  }

  async ping(): Promise<void> {
    this.#db.prepare('SELECT 1').get();
  }

  /** Removes expired rows; runs every minute and may be called directly. */
  sweep(): number {
    this.flush();
    const now = Date.now();
    return this.#stmt.sweep.run(now).changes + this.#stmt.sweepIndex.run(now).changes;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.flush();
    this.#db.close();
  }
}
