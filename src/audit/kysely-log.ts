import { CompactSign, compactVerify, importJWK, type JWK } from 'jose';
import { cidrMatcher } from '../http/cidr.js';
import type { KeyStore } from '../keys/keystore.js';
import type { Db } from '../store/database.js';
import type { AuditEventTable } from '../store/schema.js';
import { canonical, chainHash, GENESIS } from './chain.js';
import {
  newEvent,
  withWellFormedText,
  type AuditEvent,
  type AuditEventInput,
  type StoredAuditEvent,
} from './event.js';
import {
  AuditUnavailableError,
  type AuditFilter,
  type AuditLog,
  type Checkpoint,
  type SinkCursor,
  type VerifyReport,
} from './log.js';

/** An event ready to be appended: its canonical text is what the chain hashes and the store keeps. */
export interface PreparedEvent {
  event: AuditEvent;
  text: string;
}

const PAGE = 5000;

export function fromRow(row: AuditEventTable): StoredAuditEvent {
  return {
    seq: row.seq,
    event: JSON.parse(row.event) as AuditEvent,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** The columns kept beside the canonical JSON for searching; verify checks they still say what the JSON says. */
export function indexColumns(event: AuditEvent) {
  return {
    time: event.time,
    action: event.action,
    outcome: event.outcome,
    subject_id: searchable(event.subject?.id),
    subject_name: searchable(event.subject?.username),
    application: searchable(event.application?.id),
    ip: searchable(event.source?.ip),
  };
}

/**
 * Values taken from requests may hold a NUL, which PostgreSQL refuses in text: it would fail the whole group commit
 * the event is part of. The event itself keeps it (JSON escapes it); the search column holds U+FFFD instead.
 */
function searchable(value: string | undefined): string | null {
  return typeof value === 'string' ? value.replace(/\0/g, '\uFFFD') : null;
}

interface CheckpointPayload {
  seq: number;
  hash: string;
  time: string;
  /** head: the newest event when signed; anchor: the last event archived and pruned, where the chain continues */
  kind: 'head' | 'anchor';
}

/**
 * What every audit trail on a Kysely database shares: reading, searching, verifying, checkpoints and cursors run
 * the same queries on SQLite and PostgreSQL. Only `append`, which must serialise the chain head, differs.
 */
export abstract class KyselyAuditLog implements AuditLog {
  readonly #listeners = new Set<(e: StoredAuditEvent) => void>();

  constructor(
    protected readonly db: Db,
    protected readonly keys: KeyStore,
  ) {}

  /**
   * Appends an event and resolves once it is stored. The event and its canonical text are made here, before it joins
   * a group commit: an event that cannot be serialised fails its own caller (AuditUnavailableError), never the events
   * committed with it. Each store queues and commits in its own way (`enqueue`).
   */
  append(input: AuditEventInput): Promise<StoredAuditEvent> {
    let prepared: PreparedEvent;
    try {
      prepared = this.prepare(input);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(prepared);
  }

  /** Stores a prepared event in the next group commit; resolves once it is stored. */
  protected abstract enqueue(prepared: PreparedEvent): Promise<StoredAuditEvent>;

  /**
   * A new event and its canonical text; text with a lone surrogate is kept with U+FFFD in its place
   * (AuditUnavailableError when the event still cannot be serialised: a number that is not finite, a cycle).
   */
  protected prepare(input: AuditEventInput): PreparedEvent {
    const event = newEvent(input);
    try {
      return { event, text: canonical(event) };
    } catch (err) {
      const mended = withWellFormedText(event);
      try {
        return { event: mended, text: canonical(mended) };
      } catch {
        throw new AuditUnavailableError(err);
      }
    }
  }

  /** Tells this process's listeners about stored events, in order. */
  protected appended(stored: StoredAuditEvent[]): void {
    for (const event of stored) for (const listener of this.#listeners) listener(event);
  }

  onAppend(listener: (event: StoredAuditEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async readAfter(after: number, limit: number): Promise<StoredAuditEvent[]> {
    const rows = await this.db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map(fromRow);
  }

  /** Newest first, as an investigator reads. */
  async query(filter: AuditFilter): Promise<StoredAuditEvent[]> {
    const limit = filter.limit ?? 100;
    const ipMatch = filter.ip ? cidrMatcher([filter.ip]) : undefined;
    const out: StoredAuditEvent[] = [];
    // No bound on the first page: PostgreSQL would reject Number.MAX_SAFE_INTEGER for an integer column.
    let before: number | undefined = filter.before;
    for (;;) {
      let q = this.db.selectFrom('audit_events').selectAll();
      if (before !== undefined) q = q.where('seq', '<', before);
      if (filter.user)
        q = q.where((eb) =>
          eb.or([
            eb('subject_name', '=', filter.user!.toLowerCase()),
            eb('subject_name', '=', filter.user!),
            eb('subject_id', '=', filter.user!),
          ]),
        );
      if (filter.action)
        q = filter.action.endsWith('*')
          ? q.where('action', 'like', `${filter.action.slice(0, -1)}%`)
          : q.where('action', '=', filter.action);
      if (filter.outcome) q = q.where('outcome', '=', filter.outcome);
      if (filter.app) q = q.where('application', '=', filter.app);
      if (filter.since) q = q.where('time', '>=', filter.since);
      if (filter.until) q = q.where('time', '<', filter.until);
      if (ipMatch) q = q.where('ip', 'is not', null);
      const page = ipMatch ? PAGE : Math.min(PAGE, limit - out.length);
      const rows = await q.orderBy('seq', 'desc').limit(page).execute();
      for (const row of rows) {
        if (ipMatch && !ipMatch(row.ip!)) continue;
        out.push(fromRow(row));
        if (out.length >= limit) return out;
      }
      if (rows.length < page) return out;
      before = rows[rows.length - 1]!.seq;
    }
  }

  async checkpoint(): Promise<Checkpoint | undefined> {
    const head = await this.db
      .selectFrom('audit_events')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!head) return undefined;
    const last = await this.db
      .selectFrom('audit_checkpoints')
      .select('seq')
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (last && last.seq >= head.seq) return undefined;
    return this.signCheckpoint(head.seq, head.hash, 'head');
  }

  /** Signs {seq, hash, time, kind} with the current ES256 key and stores it. */
  async signCheckpoint(seq: number, hash: string, kind: 'head' | 'anchor'): Promise<Checkpoint> {
    const key = this.keys.currentKey('ES256');
    const time = new Date().toISOString();
    const payload: CheckpointPayload = { seq, hash, time, kind };
    const signature = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'poort-audit-checkpoint' })
      .sign(await importJWK(key.jwk, 'ES256'));
    const checkpoint = { seq, hash, time, kid: key.kid, signature };
    await this.db
      .insertInto('audit_checkpoints')
      .values(checkpoint)
      .onConflict((oc) => oc.column('seq').doUpdateSet({ time, kid: key.kid, signature }))
      .execute();
    return checkpoint;
  }

  /** The signed payload, or why the checkpoint cannot be trusted. */
  private async checkSignature(cp: Checkpoint): Promise<CheckpointPayload | string> {
    const jwk = this.keys.verificationKey(cp.kid);
    if (!jwk) return `checkpoint at ${cp.seq} is signed with an unknown key ${cp.kid}`;
    try {
      const { payload } = await compactVerify(cp.signature, await importJWK(jwk as JWK, 'ES256'));
      const signed = JSON.parse(new TextDecoder().decode(payload)) as CheckpointPayload;
      if (signed.seq !== cp.seq || signed.hash !== cp.hash || signed.time !== cp.time) {
        return `checkpoint at ${cp.seq} does not match what was signed`;
      }
      return signed;
    } catch {
      return `checkpoint at ${cp.seq} has an invalid signature`;
    }
  }

  /** Walks the whole chain and every checkpoint; stops at the first break. */
  async verify(): Promise<VerifyReport> {
    const checkpoints = await this.db.selectFrom('audit_checkpoints').selectAll().orderBy('seq').execute();
    const bySeq = new Map(checkpoints.map((c) => [c.seq, c]));
    const report: VerifyReport = { ok: true, events: 0, checkpoints: checkpoints.length, uncovered: 0 };
    const fail = (seq: number, problem: string, id?: string): VerifyReport => ({
      ...report,
      ok: false,
      problem: { seq, id, problem },
    });

    const kinds = new Map<number, CheckpointPayload['kind']>();
    for (const cp of checkpoints) {
      const checked = await this.checkSignature(cp);
      if (typeof checked === 'string') return fail(cp.seq, checked);
      kinds.set(cp.seq, checked.kind);
    }

    let expectedSeq: number | undefined;
    let prevHash = GENESIS;
    let after = 0;
    for (;;) {
      const rows = await this.db
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '>', after)
        .orderBy('seq')
        .limit(PAGE)
        .execute();
      for (const row of rows) {
        if (expectedSeq === undefined) {
          report.firstSeq = row.seq;
          if (row.seq !== 1) {
            const anchor = bySeq.get(row.seq - 1);
            if (!anchor)
              return fail(
                row.seq,
                `the trail starts at ${row.seq} but no signed checkpoint anchors event ${row.seq - 1}`,
                row.id,
              );
            prevHash = anchor.hash;
          }
        } else if (row.seq !== expectedSeq) {
          return fail(
            expectedSeq,
            row.seq - 1 > expectedSeq
              ? `events ${expectedSeq}–${row.seq - 1} are missing`
              : `event ${expectedSeq} is missing`,
            row.id,
          );
        }
        if (row.prev_hash !== prevHash)
          return fail(row.seq, 'the link to the previous event is broken', row.id);
        if (chainHash(prevHash, row.seq, row.event) !== row.hash)
          return fail(row.seq, 'the event was changed after it was written', row.id);
        let event: AuditEvent;
        try {
          event = JSON.parse(row.event) as AuditEvent;
        } catch {
          return fail(row.seq, 'the event is not valid JSON', row.id);
        }
        const columns = indexColumns(event);
        const changed = (Object.keys(columns) as Array<keyof typeof columns>).find(
          (k) => columns[k] !== row[k],
        );
        if (changed || event.id !== row.id)
          return fail(row.seq, `the search column ${changed ?? 'id'} was changed`, row.id);
        const cp = bySeq.get(row.seq);
        if (cp && cp.hash !== row.hash)
          return fail(row.seq, 'the event does not match the signed checkpoint', row.id);
        prevHash = row.hash;
        expectedSeq = row.seq + 1;
        report.events += 1;
        report.lastSeq = row.seq;
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.seq;
    }
    const newest = checkpoints[checkpoints.length - 1];
    const lastSeq = report.lastSeq ?? 0;
    // A checkpoint beyond the last event means events were cut off the end — unless everything was archived and
    // pruned, which leaves exactly one anchor checkpoint ahead of an empty table.
    if (newest && newest.seq > lastSeq && !(report.events === 0 && kinds.get(newest.seq) === 'anchor')) {
      return fail(
        lastSeq + 1,
        `events after ${lastSeq} up to the signed checkpoint at ${newest.seq} are missing (truncated)`,
      );
    }
    report.uncovered = newest ? Math.max(0, lastSeq - newest.seq) : lastSeq;
    return report;
  }

  async cursor(sink: string): Promise<number> {
    const row = await this.db
      .selectFrom('audit_cursors')
      .select('seq')
      .where('sink', '=', sink)
      .executeTakeFirst();
    return row?.seq ?? 0;
  }

  async cursors(): Promise<SinkCursor[]> {
    const rows = await this.db
      .selectFrom('audit_cursors')
      .select(['sink', 'seq', 'updated_at'])
      .orderBy('sink')
      .execute();
    return rows.map((r) => ({ sink: r.sink, seq: Number(r.seq), updatedAt: r.updated_at }));
  }

  /**
   * Moves a sink's cursor forward, never back: a node that delivered a batch after another node took over shipping
   * (a long pause) must not send the sink back over what the other node delivered since.
   */
  async setCursor(sink: string, seq: number): Promise<void> {
    const updated_at = new Date().toISOString();
    await this.db
      .insertInto('audit_cursors')
      .values({ sink, seq, updated_at })
      .onConflict((oc) =>
        oc.column('sink').doUpdateSet({ seq, updated_at }).where('audit_cursors.seq', '<', seq),
      )
      .execute();
  }
}
