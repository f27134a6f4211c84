import { sql } from 'kysely';
import type { KeyStore } from '../keys/keystore.js';
import type { Db } from '../store/database.js';
import { canonical, chainHash, GENESIS } from './chain.js';
import { newEvent, type AuditEvent, type AuditEventInput, type StoredAuditEvent } from './event.js';
import { indexColumns, KyselyAuditLog } from './kysely-log.js';
import { AuditUnavailableError } from './log.js';

/** The transaction-scoped advisory lock that serialises appends on every node: "poort-au" as a 64-bit number. */
const APPEND_LOCK = 0x706f6f72742d6175n;

const BATCH = 1000;

interface QueuedEvent {
  event: AuditEvent;
  resolve: (stored: StoredAuditEvent) => void;
  reject: (err: unknown) => void;
}

/**
 * The audit trail on PostgreSQL, shared by several Poort nodes. Each append takes `pg_advisory_xact_lock` before it
 * reads the chain head, so writers on every node form one linear chain (the primary key on seq would refuse a fork
 * anyway); the lock goes with the commit. Appends queued while a batch is being written are committed together
 * in the next one (group commit); each caller waits until its own event is stored.
 */
export class PostgresAuditLog extends KyselyAuditLog {
  #queue: QueuedEvent[] = [];
  #writing = false;

  constructor(db: Db, keys: KeyStore) {
    super(db, keys);
  }

  append(input: AuditEventInput): Promise<StoredAuditEvent> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ event: newEvent(input), resolve, reject });
      if (!this.#writing && this.#queue.length === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    if (this.#writing || this.#queue.length === 0) return;
    this.#writing = true;
    // at most BATCH events per INSERT: PostgreSQL takes at most 65535 parameters in one statement
    const batch = this.#queue.splice(0, BATCH);
    try {
      const stored = await this.write(batch.map((q) => q.event));
      batch.forEach((q, i) => q.resolve(stored[i]!));
      this.appended(stored);
    } catch (err) {
      for (const q of batch) q.reject(new AuditUnavailableError(err));
    } finally {
      this.#writing = false;
      if (this.#queue.length > 0) setImmediate(() => void this.flush());
    }
  }

  /**
   * Appends inside a transaction the caller runs (`trx` must be one), so a change and its audit event commit or
   * roll back together; the append lock is then held until that transaction ends. Listeners are not told: the
   * caller may still roll back.
   */
  async appendIn(trx: Db, ...inputs: AuditEventInput[]): Promise<StoredAuditEvent[]> {
    try {
      return await this.writeIn(
        trx,
        inputs.map((input) => newEvent(input)),
      );
    } catch (err) {
      throw new AuditUnavailableError(err);
    }
  }

  private write(events: AuditEvent[]): Promise<StoredAuditEvent[]> {
    return this.db.transaction().execute((trx) => this.writeIn(trx, events));
  }

  private async writeIn(trx: Db, events: AuditEvent[]): Promise<StoredAuditEvent[]> {
    if (events.length === 0) return [];
    await sql`SELECT pg_advisory_xact_lock(${APPEND_LOCK.toString()}::bigint)`.execute(trx);
    // After everything was archived and pruned, the chain continues from the signed anchor checkpoint.
    let last = (await trx
      .selectFrom('audit_events')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst()) ??
      (await trx
        .selectFrom('audit_checkpoints')
        .select(['seq', 'hash'])
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst()) ?? { seq: 0, hash: GENESIS };
    const stored: StoredAuditEvent[] = [];
    const rows = events.map((event) => {
      const seq = Number(last.seq) + 1;
      const text = canonical(event);
      const hash = chainHash(last.hash, seq, text);
      stored.push({ seq, event, prevHash: last.hash, hash });
      const row = { seq, id: event.id, ...indexColumns(event), event: text, prev_hash: last.hash, hash };
      last = { seq, hash };
      return row;
    });
    await trx.insertInto('audit_events').values(rows).execute();
    return stored;
  }
}
