import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { migrate, type Db } from './database.js';
import type { Database } from './schema.js';

/** Connection pool settings for the durable store on PostgreSQL. */
export interface PostgresPoolOptions {
  /** most connections this process opens (default 10) */
  max?: number;
  /** close a connection idle this long (default 30 s) */
  idleTimeoutMillis?: number;
  /** give up waiting for a connection after this long, so a request fails cleanly (default 10 s) */
  connectionTimeoutMillis?: number;
  /** server-side limit on one statement (default 30 s; 0: none) */
  statementTimeoutMillis?: number;
  /** reported in pg_stat_activity (default "poort") */
  applicationName?: string;
}

/** A key of Poort's own for session advisory locks: "poort-mg" as a 64-bit number. */
const MIGRATION_LOCK = 0x706f6f72742d6d67n;

function poolConfig(url: string, options: PostgresPoolOptions): pg.PoolConfig {
  return {
    connectionString: url,
    max: options.max ?? 10,
    idleTimeoutMillis: options.idleTimeoutMillis ?? 30_000,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    statement_timeout: options.statementTimeoutMillis ?? 30_000,
    application_name: options.applicationName ?? 'poort',
  };
}

/** A Kysely instance over a pg pool; not migrated (see openDurablePostgres). */
export function openPostgres(url: string, options: PostgresPoolOptions = {}): Db {
  const pool = new pg.Pool(poolConfig(url, options));
  // An idle connection that the server drops emits 'error' on the pool: without a listener it would end the
  // process. The next query opens a new connection (or fails with a clean error while PostgreSQL is down).
  pool.on('error', () => undefined);
  // The same for a connection that is checked out between two statements (inside a transaction) when the server
  // drops it: its next statement fails, and the pool discards it on release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * Runs the migrations while holding a session advisory lock on a connection of its own, so several nodes starting
 * together migrate once: the others wait, then find nothing left to do.
 */
export async function migratePostgres(db: Db, url: string, connectionTimeoutMillis = 10_000): Promise<void> {
  const client = new pg.Client({
    connectionString: url,
    application_name: 'poort-migrate',
    connectionTimeoutMillis,
  });
  // a connection dropped while waiting for the lock fails the query below instead of ending the process
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    try {
      await migrate(db);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]);
    }
  } finally {
    await client.end();
  }
}

/** The durable store on PostgreSQL, migrated to the latest version. */
export async function openDurablePostgres(url: string, options: PostgresPoolOptions = {}): Promise<Db> {
  const db = openPostgres(url, options);
  try {
    await migratePostgres(db, url, options.connectionTimeoutMillis);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return db;
}

/**
 * PostgreSQL has no cheap counter of other sessions' commits like SQLite's data_version: a counter that moves every
 * `bucketMs` (default a second) makes caches of durable data read again at most that long after another node wrote.
 */
export function timeBucketCounter(bucketMs = 1000): () => number {
  return () => Math.floor(Date.now() / bucketMs);
}
