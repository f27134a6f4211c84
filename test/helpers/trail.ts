import type { AuditEvent } from '../../src/audit/event.js';
import type { TestPoort } from './poort.js';

/** The newest event's place in the audit trail (0 when empty): what a test reads after. */
export async function lastSeq(poort: TestPoort): Promise<number> {
  return (await poort.services.audit.query({ limit: 1 }))[0]?.seq ?? 0;
}

/** The events appended after `seq`, oldest first. */
export async function eventsSince(poort: TestPoort, seq: number): Promise<AuditEvent[]> {
  return (await poort.services.audit.readAfter(seq, 500)).map((e) => e.event);
}

/** The first event after `seq` that `match` accepts, waiting for it: what a sink records comes a moment later. */
export async function eventAfter(
  poort: TestPoort,
  seq: number,
  match: (event: AuditEvent) => boolean,
  timeoutMs = 10_000,
): Promise<AuditEvent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await eventsSince(poort, seq)).find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such event in the audit trail within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
