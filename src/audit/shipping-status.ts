import type { KeyValueStore } from '../store/kv.js';
import type { LeaseRecord } from '../store/lease.js';
import type { AuditLog } from './log.js';
import { AUDIT_LEASE } from './shipper.js';
import { sinkFailureKey, type SinkFailure } from './sink-failures.js';

/** How far one sink has taken the trail. */
export interface SinkShipping {
  sink: string;
  /** shipped to by this configuration; a cursor left by a sink no longer configured is listed, not judged */
  configured: boolean;
  /** the last event it took; 0: none yet */
  delivered: number;
  /** when that last moved forward */
  movedAt?: string;
  /** events after it in the trail */
  behind: number;
  /** the time of the first event it has not taken */
  waitingSince?: string;
  /** seconds from then until now: how late the sink is; 0 when it has everything */
  lateSeconds: number;
  /** the shipping node's last failure to deliver to it, while it is failing */
  failure?: SinkFailure;
}

export interface ShippingStatus {
  /** the newest event of the trail; none in an empty trail */
  head?: { seq: number; time: string };
  /** the node that ships the trail now (the audit lease's holder); none while no node runs */
  shipper?: { node: string; since: string };
  /** why the shared key-value store (which knows the shipper and failures) could not be read */
  ephemeralError?: string;
  sinks: SinkShipping[];
}

/**
 * How the trail is being shipped, as any process with the store sees it: the head, the node shipping, and every
 * sink's cursor, lateness and failure. `configured` are the sink names the configuration ships to (its own sinks
 * included); cursors of other names are listed as no longer configured.
 */
export async function shippingStatus(
  audit: Pick<AuditLog, 'query' | 'cursors' | 'readAfter'>,
  kv: Pick<KeyValueStore, 'get'>,
  configured: readonly string[],
  now = Date.now(),
): Promise<ShippingStatus> {
  const [newest] = await audit.query({ limit: 1 });
  const head = newest ? { seq: newest.seq, time: newest.event.time } : undefined;
  const cursors = new Map((await audit.cursors()).map((c) => [c.sink, c]));
  const names = [...new Set([...configured, ...cursors.keys()])];

  let ephemeralError: string | undefined;
  const fromKv = async <T>(key: string): Promise<T | undefined> => {
    if (ephemeralError !== undefined) return undefined;
    try {
      return await kv.get<T>(key);
    } catch (err) {
      ephemeralError = err instanceof Error ? err.message : String(err);
      return undefined;
    }
  };
  const lease = await fromKv<LeaseRecord>(AUDIT_LEASE);
  const shipper =
    typeof lease?.holder === 'string'
      ? { node: lease.holder, since: new Date(lease.since).toISOString() }
      : undefined;

  const sinks: SinkShipping[] = [];
  for (const sink of names) {
    const cursor = cursors.get(sink);
    const delivered = cursor?.seq ?? 0;
    const behind = head ? Math.max(0, head.seq - delivered) : 0;
    const [next] = behind > 0 ? await audit.readAfter(delivered, 1) : [];
    const failure = configured.includes(sink) ? await fromKv<SinkFailure>(sinkFailureKey(sink)) : undefined;
    sinks.push({
      sink,
      configured: configured.includes(sink),
      delivered,
      ...(cursor ? { movedAt: cursor.updatedAt } : {}),
      behind,
      ...(next ? { waitingSince: next.event.time } : {}),
      lateSeconds: next ? Math.max(0, Math.floor((now - Date.parse(next.event.time)) / 1000)) : 0,
      ...(failure ? { failure } : {}),
    });
  }
  return {
    ...(head ? { head } : {}),
    ...(shipper ? { shipper } : {}),
    ...(ephemeralError !== undefined ? { ephemeralError } : {}),
    sinks,
  };
}
