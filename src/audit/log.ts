import type { AuditEventInput, StoredAuditEvent } from './event.js';

/** The trail could not store an event: the step that emitted it must not take effect. */
export class AuditUnavailableError extends Error {
  override readonly name = 'AuditUnavailableError';
  readonly status = 503;
  constructor(cause: unknown) {
    super('the audit trail cannot store events', { cause });
  }
}

export interface AuditFilter {
  /** username as recorded (typed) or user id */
  user?: string;
  action?: string;
  outcome?: string;
  /** client id or SAML entity id */
  app?: string;
  /** an address or CIDR range */
  ip?: string;
  /** ISO-8601 bounds, inclusive since, exclusive until */
  since?: string;
  until?: string;
  /** only events with a lower seq: the next page of a search, newest first */
  before?: number;
  limit?: number;
}

export interface VerifyProblem {
  seq: number;
  id?: string;
  problem: string;
}

export interface VerifyReport {
  ok: boolean;
  events: number;
  firstSeq?: number;
  lastSeq?: number;
  checkpoints: number;
  /** events after the newest signed checkpoint: the chain covers them, no signature yet */
  uncovered: number;
  /** the first break found; verification stops there */
  problem?: VerifyProblem;
}

export interface Checkpoint {
  seq: number;
  hash: string;
  time: string;
  kid: string;
  signature: string;
}

/** How far a sink has taken the trail. */
export interface SinkCursor {
  sink: string;
  /** the last event it took */
  seq: number;
  /** when that moved forward last */
  updatedAt: string;
}

/**
 * The tamper-evident audit trail. `append` is part of the step that emits it: when it throws, the step must fail.
 * Sinks do not hold events in memory: each reads forward from its own durable cursor.
 */
export interface AuditLog {
  append(input: AuditEventInput): Promise<StoredAuditEvent>;
  query(filter: AuditFilter): Promise<StoredAuditEvent[]>;
  /** events with seq > after, in order, for sinks and export */
  readAfter(after: number, limit: number): Promise<StoredAuditEvent[]>;
  /** signs the current head when events were added since the last checkpoint */
  checkpoint(): Promise<Checkpoint | undefined>;
  /** signs a given point of the chain: the head, or the anchor where it continues after pruning */
  signCheckpoint(seq: number, hash: string, kind: 'head' | 'anchor'): Promise<Checkpoint>;
  verify(): Promise<VerifyReport>;
  cursor(sink: string): Promise<number>;
  setCursor(sink: string, seq: number): Promise<void>;
  /** every sink's cursor, by name: how far it has delivered and when that last moved */
  cursors(): Promise<SinkCursor[]>;
  /** called after every append in this process */
  onAppend(listener: (event: StoredAuditEvent) => void): () => void;
}
