import type SQLite from 'better-sqlite3';
import type { KeyStore } from '../keys/keystore.js';
import type { Db } from '../store/database.js';
import { chainHash, GENESIS } from './chain.js';
import type { AuditEventInput, StoredAuditEvent } from './event.js';
import { indexColumns, KyselyAuditLog, type PreparedEvent } from './kysely-log.js';
import { AuditUnavailableError } from './log.js';

interface QueuedEvent extends PreparedEvent {
  resolve: (stored: StoredAuditEvent) => void;
  reject: (err: unknown) => void;
}

/**
 * The audit trail in the embedded database. Appends run in a BEGIN IMMEDIATE transaction on the raw handle, so the
 * chain stays linear when the server and the CLI append at the same time; everything else goes through Kysely.
 * Appends made while the event loop is busy with other requests are committed together (group commit): each
 * caller still waits until its event is stored, so a step never goes ahead unrecorded.
 */
export class SqliteAuditLog extends KyselyAuditLog {
  readonly #appendTx;
  readonly #sqlite: SQLite.Database;
  #queue: QueuedEvent[] = [];

  constructor(db: Db, sqlite: SQLite.Database, keys: KeyStore) {
    super(db, keys);
    this.#sqlite = sqlite;
    const head = sqlite.prepare<[], { seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1',
    );
    const anchor = sqlite.prepare<[], { seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1',
    );
    const insert = sqlite.prepare(
      `INSERT INTO audit_events (seq, id, time, action, outcome, subject_id, subject_name, application, ip, event, prev_hash, hash)
       VALUES (@seq, @id, @time, @action, @outcome, @subject_id, @subject_name, @application, @ip, @event, @prev_hash, @hash)`,
    );
    this.#appendTx = sqlite.transaction((events: PreparedEvent[]): StoredAuditEvent[] => {
      // After everything was archived and pruned, the chain continues from the signed anchor checkpoint.
      let last = head.get() ?? anchor.get() ?? { seq: 0, hash: GENESIS };
      return events.map(({ event, text }) => {
        const seq = last.seq + 1;
        const hash = chainHash(last.hash, seq, text);
        insert.run({ seq, id: event.id, ...indexColumns(event), event: text, prev_hash: last.hash, hash });
        const stored = { seq, event, prevHash: last.hash, hash };
        last = stored;
        return stored;
      });
    });
  }

  protected enqueue(prepared: PreparedEvent): Promise<StoredAuditEvent> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ ...prepared, resolve, reject });
      if (this.#queue.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    // A change recorded with its events (recordedBy) holds a transaction open on this connection across awaits.
    // Other events wait for its end: appended inside it, they would be reported stored and then go with its rollback.
    if (this.#sqlite.inTransaction) {
      setImmediate(() => this.flush());
      return;
    }
    const batch = this.#queue;
    this.#queue = [];
    let stored: StoredAuditEvent[];
    try {
      stored = this.#appendTx.immediate(batch);
    } catch (err) {
      for (const q of batch) q.reject(new AuditUnavailableError(err));
      return;
    }
    batch.forEach((q, i) => q.resolve(stored[i]!));
    this.appended(stored);
  }

  /**
   * Appends events at once inside the transaction the caller holds open on this connection (recordedBy): they
   * commit or roll back with the change they record. Hand the result to `published` after the commit.
   */
  appendInTransaction(inputs: AuditEventInput[]): StoredAuditEvent[] {
    if (!this.#sqlite.inTransaction) throw new Error('appendInTransaction needs an open transaction');
    try {
      return this.#appendTx(inputs.map((input) => this.prepare(input)));
    } catch (err) {
      throw new AuditUnavailableError(err);
    }
  }

  /** Tells the listeners of events that `appendInTransaction` stored, once their transaction committed. */
  published(stored: StoredAuditEvent[]): void {
    if (stored.length > 0) this.appended(stored);
  }
}
