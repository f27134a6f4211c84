import { sql } from 'kysely';
import type { Config } from '../config/schema.js';
import type { Db } from '../store/database.js';
import type { AuditEventInput, AuditOutcome } from './event.js';
import type { AuditLog } from './log.js';

/** What an administrative step did, for the audit trail; the actor is added by whoever records it. */
export type Change = Omit<AuditEventInput, 'actor' | 'outcome'> & { outcome?: AuditOutcome };

export type Actor = AuditEventInput['actor'];

/** What recording a change needs: the durable store and its audit trail. */
export interface RecordingStore {
  config: { storage: Pick<Config['storage'], 'durable'> };
  db: Db;
  audit: AuditLog;
}

export function eventOf(actor: Actor, change: Change): AuditEventInput {
  return { outcome: 'success', actor, ...change };
}

type ChangeFn<T> = (db: Db) => Promise<{ result: T; changes: Change[] }>;

/**
 * Runs a change to the store and records it in the audit trail in one transaction: when the event cannot be
 * stored, the change does not happen either. `fn` must use the connection it is given, never `store.db`.
 */
export async function recordedBy<T>(store: RecordingStore, actor: Actor, fn: ChangeFn<T>): Promise<T> {
  return store.config.storage.durable === 'postgres'
    ? recordedOnPostgres(store, actor, fn)
    : recordedOnSqlite(store, actor, fn);
}

/**
 * BEGIN IMMEDIATE takes the write lock first (waiting for the server's writes), so reading and then writing inside
 * the transaction cannot fail on a snapshot the server changed meanwhile. The events are written in the transaction,
 * on the same connection; in the server, other requests' events wait for its end (SqliteAuditLog.flush), so a
 * rollback takes only this change's events with it.
 */
async function recordedOnSqlite<T>(store: RecordingStore, actor: Actor, fn: ChangeFn<T>): Promise<T> {
  const { SqliteAuditLog } = await import('./sqlite-log.js');
  const audit = store.audit;
  if (!(audit instanceof SqliteAuditLog))
    throw new Error('storage.durable is sqlite but the audit trail is not in SQLite');
  return store.db.connection().execute(async (db) => {
    await sql`BEGIN IMMEDIATE`.execute(db);
    try {
      const { result, changes } = await fn(db);
      const stored = audit.appendInTransaction(changes.map((change) => eventOf(actor, change)));
      await sql`COMMIT`.execute(db);
      audit.published(stored);
      return result;
    } catch (err) {
      await sql`ROLLBACK`.execute(db).catch(() => undefined);
      throw err;
    }
  });
}

/**
 * The events are appended inside the change's own transaction, under the same advisory lock every node's server
 * takes for its appends, so the chain stays linear. The lock is taken last, after the change's row locks, in the
 * same order as everywhere else, and is held only until the commit.
 */
async function recordedOnPostgres<T>(store: RecordingStore, actor: Actor, fn: ChangeFn<T>): Promise<T> {
  const { PostgresAuditLog } = await import('./pg-log.js');
  const audit = store.audit;
  if (!(audit instanceof PostgresAuditLog))
    throw new Error('storage.durable is postgres but the audit trail is not on PostgreSQL');
  return store.db.transaction().execute(async (trx) => {
    const { result, changes } = await fn(trx);
    await audit.appendIn(trx, ...changes.map((change) => eventOf(actor, change)));
    return result;
  });
}

export function subject(user: { id: string; username: string }): Change['subject'] {
  return { id: user.id, username: user.username };
}
