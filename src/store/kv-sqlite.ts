import path from 'node:path';
import type SQLite from 'better-sqlite3';
import { openSqliteFile } from './database.js';
import type { KeyValueStore, Update } from './kv.js';

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
    this.#sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  static inDataDir(dataDir: string): SqliteKeyValueStore {
    return new SqliteKeyValueStore(path.join(dataDir, 'ephemeral.sqlite'));
  }

  async get<T>(key: string): Promise<T | undefined> {
    const row = this.#stmt.get.get(key, Date.now());
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    this.#stmt.set.run(
      key,
      JSON.stringify(value),
      ttlSeconds !== undefined ? Date.now() + ttlSeconds * 1000 : null,
    );
  }

  async delete(key: string): Promise<void> {
    this.#stmt.delete.run(key);
  }

  async update<T, R>(key: string, fn: (current: T | undefined, now: number) => Update<T, R>): Promise<R> {
    return this.#updateTx.immediate(key, fn as (c: unknown, now: number) => Update<unknown, unknown>) as R;
  }

  async indexAdd(index: string, member: string, ttlSeconds?: number): Promise<void> {
    this.#stmt.indexAdd.run(index, member, ttlSeconds !== undefined ? Date.now() + ttlSeconds * 1000 : null);
  }

  async deleteIndexed(index: string): Promise<void> {
    this.#deleteIndexedTx.immediate(index);
  }

  async ping(): Promise<void> {
    this.#db.prepare('SELECT 1').get();
  }

  /** Removes expired rows; runs every minute and may be called directly. */
  sweep(): number {
    const now = Date.now();
    return this.#stmt.sweep.run(now).changes + this.#stmt.sweepIndex.run(now).changes;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#db.close();
  }
}
