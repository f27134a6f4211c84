import type { StoredAuditEvent } from '../event.js';

/**
 * Where the audit trail is shipped. The shipper hands each sink the events after its cursor, in order, one batch at
 * a time, and moves the cursor only when `deliver` resolves: delivery is at-least-once and receivers de-duplicate by
 * the event id (ECS `event.id`).
 */
export interface Sink {
  /** unique among the configured sinks: the key of the sink's cursor */
  readonly name: string;
  /** the most events one `deliver` call takes; the shipper's default when absent */
  readonly batchSize?: number;
  /** Sends the batch; throws when any of it may not have arrived, and the whole batch is then sent again. */
  deliver(batch: StoredAuditEvent[]): Promise<void>;
  /** Releases connections and files; an in-flight `deliver` may fail. */
  close(): Promise<void>;
}

export { errorMessage } from '../../log/error-message.js';
