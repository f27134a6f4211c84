import type { AuditEventInput, AuditOutcome } from '../audit/event.js';
import type { Services } from '../server/services.js';
import type { Db } from '../store/database.js';
import { cliActor } from './actor.js';

/** What a command did, for the audit trail; the actor is always the operating-system user running the CLI. */
export type Change = Omit<AuditEventInput, 'actor' | 'outcome'> & { outcome?: AuditOutcome };

/** Appends events with the CLI as actor. */
export async function record(services: Services, ...changes: Change[]): Promise<void> {
  for (const change of changes)
    await services.audit.append({ outcome: 'success', actor: cliActor(), ...change });
}

/**
 * Runs a change to the store and records it in the audit trail in one transaction: when the event cannot be
 * stored, the change does not happen either. `fn` must use the connection it is given, never `services.db`.
 * BEGIN IMMEDIATE takes the write lock first (waiting for the server's writes), so reading and then writing inside
 * the transaction cannot fail on a snapshot the server changed meanwhile.
 */
export async function recorded<T>(
  services: Services,
  fn: (db: Db) => Promise<{ result: T; changes: Change[] }>,
): Promise<T> {
  if (services.config.storage.durable === 'postgres') return recordedOnPostgres(services, fn);
  const { sql } = await import('kysely');
  return services.db.connection().execute(async (db) => {
    await sql`BEGIN IMMEDIATE`.execute(db);
    try {
      const { result, changes } = await fn(db);
      await record(services, ...changes);
      await sql`COMMIT`.execute(db);
      return result;
    } catch (err) {
      await sql`ROLLBACK`.execute(db).catch(() => undefined);
      throw err;
    }
  });
}

/**
 * The same on PostgreSQL: the events are appended inside the change's transaction (which then holds the append
 * lock until it commits), so they commit or roll back together.
 */
async function recordedOnPostgres<T>(
  services: Services,
  fn: (db: Db) => Promise<{ result: T; changes: Change[] }>,
): Promise<T> {
  const { PostgresAuditLog } = await import('../audit/pg-log.js');
  const audit = services.audit;
  if (!(audit instanceof PostgresAuditLog))
    throw new Error('durable: postgres without the PostgreSQL audit trail');
  return services.db.transaction().execute(async (trx) => {
    const { result, changes } = await fn(trx);
    await audit.appendIn(
      trx,
      ...changes.map((change) => ({ outcome: 'success' as const, actor: cliActor(), ...change })),
    );
    return result;
  });
}

export function subject(user: { id: string; username: string }): Change['subject'] {
  return { id: user.id, username: user.username };
}
