import { sql } from 'kysely';
import type { KeyStore } from '../keys/keystore.js';
import type { Db } from '../store/database.js';
import type { AuditEventInput, StoredAuditEvent } from './event.js';
import { indexColumns, KyselyAuditLog, type PreparedEvent } from './kysely-log.js';
import { AuditUnavailableError } from './log.js';

/** The transaction-scoped advisory lock that serialises appends on every node: "poort-au" as a 64-bit number. */
const APPEND_LOCK = 0x706f6f72742d6175n;

const BATCH = 1000;

interface QueuedEvent extends PreparedEvent {
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

  protected enqueue(prepared: PreparedEvent): Promise<StoredAuditEvent> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ ...prepared, resolve, reject });
      if (!this.#writing && this.#queue.length === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    if (this.#writing || this.#queue.length === 0) return;
    this.#writing = true;
    // at most BATCH events per statement: a bounded transaction, and callers behind a long queue are answered sooner
    const batch = this.#queue.splice(0, BATCH);
    try {
      const stored = await this.write(batch);
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
        inputs.map((input) => this.prepare(input)),
      );
    } catch (err) {
      throw new AuditUnavailableError(err);
    }
  }

  /** The group commit: one statement, its own transaction (the append lock is released as it ends). */
  private write(events: readonly PreparedEvent[]): Promise<StoredAuditEvent[]> {
    return this.writeIn(this.db, events);
  }

  /**
   * One statement: migration 007's poort_audit_append takes the append lock, reads the chain head and links the
   * events, in the caller's transaction or (the group commit) in the statement's own. The hashes are computed by
   * PostgreSQL with chain.ts's formula over the canonical text made here; verify() recomputes them in Poort.
   */
  private async writeIn(db: Db, events: readonly PreparedEvent[]): Promise<StoredAuditEvent[]> {
    if (events.length === 0) return [];
    const columns = {
      ids: [] as string[],
      times: [] as string[],
      actions: [] as string[],
      outcomes: [] as string[],
      subjectIds: [] as (string | null)[],
      subjectNames: [] as (string | null)[],
      applications: [] as (string | null)[],
      ips: [] as (string | null)[],
      texts: [] as string[],
    };
    for (const { event, text } of events) {
      const index = indexColumns(event);
      columns.ids.push(event.id);
      columns.times.push(index.time);
      columns.actions.push(index.action);
      columns.outcomes.push(index.outcome);
      columns.subjectIds.push(index.subject_id);
      columns.subjectNames.push(index.subject_name);
      columns.applications.push(index.application);
      columns.ips.push(index.ip);
      columns.texts.push(text);
    }
    const { rows } = await sql<{ seq: number; prev_hash: string; hash: string }>`
      SELECT seq, prev_hash, hash FROM poort_audit_append(${APPEND_LOCK.toString()}::bigint,
        ${columns.ids}::text[], ${columns.times}::text[], ${columns.actions}::text[], ${columns.outcomes}::text[],
        ${columns.subjectIds}::text[], ${columns.subjectNames}::text[], ${columns.applications}::text[],
        ${columns.ips}::text[], ${columns.texts}::text[])`.execute(db);
    if (rows.length !== events.length)
      throw new Error(`audit append stored ${rows.length} of ${events.length} events`);
    return events.map(({ event }, i) => ({
      seq: Number(rows[i]!.seq),
      event,
      prevHash: rows[i]!.prev_hash,
      hash: rows[i]!.hash,
    }));
  }
}
