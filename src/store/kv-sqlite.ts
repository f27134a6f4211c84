import path from 'node:path';
import type SQLite from 'better-sqlite3';
import { openSqliteFile } from './database.js';
import type { BatchOp, KeyValueStore, Update } from './kv.js';

const SWEEP_INTERVAL_MS = 60_000;

/**
 * The values live in a rowid table with a unique index on the key. Keys are random (token and session ids), and
 * in a table keyed by them (WITHOUT ROWID, as earlier versions of Poort made it) every write lands in a random leaf
 * of ~700-byte rows, which splits every few inserts: each commit then wrote more pages to the write-ahead log, and
 * SQLite's page cache was scanned whole after every split (its page-number sort uses a page number far past the end
 * of the file). Here the rows append at the end of the table and only the small index entries land at random:
 * half the CPU per commit of three inserts, and about a tenth less server CPU per client-credentials grant and
 * per sign-in's main thread (`npm run bench`).
 */
const KV_TABLE =
  'CREATE TABLE kv (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value TEXT NOT NULL, expires_at INTEGER)';

function createTables(db: SQLite.Database): void {
  db.transaction(() => {
    const existing = db
      .prepare<[], { sql: string }>("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'kv'")
      .get();
    if (!existing) {
      db.exec(KV_TABLE);
    } else if (/WITHOUT\s+ROWID/i.test(existing.sql)) {
      // An older file: its values move to the new layout, TTLs and all, in this one transaction.
      db.exec(`
        ${KV_TABLE.replace('TABLE kv', 'TABLE kv_rowid')};
        INSERT INTO kv_rowid (key, value, expires_at) SELECT key, value, expires_at FROM kv;
        DROP TABLE kv;
        ALTER TABLE kv_rowid RENAME TO kv;
      `);
    }
    db.exec(`
      CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires_at) WHERE expires_at IS NOT NULL;
      CREATE TABLE IF NOT EXISTS kv_index (idx TEXT NOT NULL, member TEXT NOT NULL, expires_at INTEGER,
        PRIMARY KEY (idx, member)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS kv_index_expires ON kv_index (expires_at) WHERE expires_at IS NOT NULL;
    `);
  }).immediate();
}

/** A write waiting for the next group commit: its value serialised and its expiry fixed when it was asked for. */
type PendingWrite =
  | { op: 'set'; key: string; text: string; expiresAt: number | null }
  | { op: 'delete'; key: string }
  | { op: 'indexAdd'; index: string; member: string; expiresAt: number | null };

function pendingWrite(o: BatchOp, now: number): PendingWrite {
  const expiresAt = o.ttlSeconds !== undefined ? now + o.ttlSeconds * 1000 : null;
  if (o.op === 'indexAdd') return { op: 'indexAdd', index: o.index, member: o.member, expiresAt };
  const text = JSON.stringify(o.value) as string | undefined;
  // refused here, for this caller alone, rather than failing the whole group commit
  if (text === undefined) throw new TypeError(`cannot store ${typeof o.value} under ${o.key}`);
  return { op: 'set', key: o.key, text, expiresAt };
}

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
    | {
        writes: PendingWrite[];
        /** the last waiting write of each key, which a read of that key answers from */
        latest: Map<string, PendingWrite>;
        waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }>;
      }
    | undefined;
  readonly #sweeper: NodeJS.Timeout;

  constructor(file: string) {
    this.#db = openSqliteFile(file);
    createTables(this.#db);
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
    this.#batchTx = db.transaction((writes: PendingWrite[]) => {
      for (const w of writes) {
        if (w.op === 'set') this.#stmt.set.run(w.key, w.text, w.expiresAt);
        else if (w.op === 'delete') this.#stmt.delete.run(w.key);
        else this.#stmt.indexAdd.run(w.index, w.member, w.expiresAt);
      }
    });
    this.#sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  static inDataDir(dataDir: string): SqliteKeyValueStore {
    return new SqliteKeyValueStore(path.join(dataDir, 'ephemeral.sqlite'));
  }

  /**
   * Writes (stores and deletes) wait for the end of the current turn of the event loop and go to SQLite together,
   * in one commit (group commit); each caller is answered once its write is stored. A read of a key with a write
   * waiting answers from that write, so this process always reads its own writes without committing early; every
   * read-modify-write and every read of an index first commits what is waiting.
   */
  private enqueue(writes: PendingWrite[]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.#pending) {
        this.#pending = { writes: [], latest: new Map(), waiters: [] };
        setImmediate(() => this.flush());
      }
      for (const w of writes) {
        this.#pending.writes.push(w);
        if (w.op !== 'indexAdd') this.#pending.latest.set(w.key, w);
      }
      this.#pending.waiters.push({ resolve, reject });
    });
  }

  private flush(): void {
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = undefined;
    try {
      this.#batchTx.immediate(pending.writes);
    } catch (err) {
      for (const w of pending.waiters) w.reject(err);
      return;
    }
    for (const w of pending.waiters) w.resolve();
  }

  async get<T>(key: string): Promise<T | undefined> {
    const now = Date.now();
    const waiting = this.#pending?.latest.get(key);
    if (waiting) {
      return waiting.op === 'set' && (waiting.expiresAt === null || waiting.expiresAt > now)
        ? (JSON.parse(waiting.text) as T)
        : undefined;
    }
    const row = this.#stmt.get.get(key, now);
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    return this.enqueue([pendingWrite({ op: 'set', key, value, ttlSeconds }, Date.now())]);
  }

  delete(key: string): Promise<void> {
    return this.enqueue([{ op: 'delete', key }]);
  }

  async update<T, R>(key: string, fn: (current: T | undefined, now: number) => Update<T, R>): Promise<R> {
    this.flush();
    return this.#updateTx.immediate(key, fn as (c: unknown, now: number) => Update<unknown, unknown>) as R;
  }

  async indexAdd(index: string, member: string, ttlSeconds?: number): Promise<void> {
    return this.enqueue([pendingWrite({ op: 'indexAdd', index, member, ttlSeconds }, Date.now())]);
  }

  async deleteIndexed(index: string): Promise<void> {
    this.flush();
    this.#deleteIndexedTx.immediate(index);
  }

  async indexedKeys(index: string): Promise<string[]> {
    this.flush();
    return this.#stmt.liveIndexMembers.all(index, Date.now()).map((r) => r.member);
  }

  async batch(ops: BatchOp[]): Promise<void> {
    const now = Date.now();
    return this.enqueue(ops.map((o) => pendingWrite(o, now)));
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
