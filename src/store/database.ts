import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type SqliteDatabase } from 'kysely';
import { migrationProvider } from './migrations/index.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

/** Opens a SQLite file with the settings every Poort process uses: WAL, a busy timeout, foreign keys. */
export function openSqliteFile(file: string): SQLite.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  // Checkpoint the write-ahead log less often (every ~40 MiB instead of ~4 MiB): each checkpoint writes and syncs.
  sqlite.pragma('wal_autocheckpoint = 10000');
  sqlite.pragma('cache_size = -16384');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  return sqlite;
}

/** The durable store on the embedded SQLite database, migrated to the latest version. */
export async function openDurableStore(dataDir: string): Promise<Db> {
  return (await openDurableSqlite(dataDir)).db;
}

/** The same, with the raw handle for the few writes that need SQLite's BEGIN IMMEDIATE (the audit chain). */
export async function openDurableSqlite(dataDir: string): Promise<{ db: Db; sqlite: SQLite.Database }> {
  const sqlite = openSqliteFile(path.join(dataDir, 'poort.sqlite'));
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  await migrateSqlite(db, sqlite);
  return { db, sqlite };
}

/**
 * Kysely's migrator takes no lock on SQLite, so two processes opening a new store at once (two CLI commands, the
 * server and the CLI) both ran 001_initial and one failed with "table users already exists". The whole run goes
 * in one BEGIN IMMEDIATE transaction instead: the second process waits for the first to commit, then finds
 * nothing left to do; a migration that fails leaves the store as it was.
 */
async function migrateSqlite(db: Db, sqlite: SQLite.Database): Promise<void> {
  // BEGIN IMMEDIATE waits at most busy_timeout for another process's migrations to finish.
  sqlite.exec('BEGIN IMMEDIATE');
  try {
    await migrate(db);
    sqlite.exec('COMMIT');
  } catch (error) {
    if (sqlite.inTransaction) sqlite.exec('ROLLBACK');
    throw error;
  }
}

const STATEMENT_CACHE = 500;

/**
 * Kysely prepares every query anew; preparing costs more than running a small query. The same SQL text gets the
 * same prepared statement (Kysely runs one query at a time per connection, so a statement is never shared live).
 */
function withStatementCache(sqlite: SQLite.Database): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (!statement) {
        if (statements.size >= STATEMENT_CACHE) statements.delete(statements.keys().next().value!);
        statement = sqlite.prepare(sql);
        statements.set(sql, statement);
      }
      return statement as unknown as ReturnType<SqliteDatabase['prepare']>;
    },
    close: () => sqlite.close(),
  };
}

export async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
}

/**
 * A counter that moves whenever another connection (another process) commits to this SQLite file: SQLite's
 * data_version. Lets caches of durable data stay valid until somebody else writes.
 */
export function sqliteChangeCounter(sqlite: SQLite.Database, maxAgeMs = 250): () => number {
  const statement = sqlite.prepare('PRAGMA data_version').pluck();
  // Asking costs more than the look-ups it guards: ask at most every maxAgeMs, so a change by another process
  // (the CLI) takes effect within that time.
  let checkedAt = 0;
  let version = 0;
  return () => {
    const now = Date.now();
    if (now - checkedAt >= maxAgeMs) {
      version = statement.get() as number;
      checkedAt = now;
    }
    return version;
  };
}
