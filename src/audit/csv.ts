import type { StoredAuditEvent } from './event.js';

/** The columns of the trail as CSV, for spreadsheets and auditors' tools. */
export const CSV_COLUMNS = [
  'seq',
  'time',
  'action',
  'outcome',
  'reason',
  'user',
  'user_id',
  'application',
  'ip',
  'country',
  'device',
  'actor',
  'id',
] as const;

function csvCell(value: unknown): string {
  const text = value === undefined || value === null ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRow(stored: StoredAuditEvent): string {
  const e = stored.event;
  const cells: Record<(typeof CSV_COLUMNS)[number], unknown> = {
    seq: stored.seq,
    time: e.time,
    action: e.action,
    outcome: e.outcome,
    reason: e.reason,
    user: e.subject?.username,
    user_id: e.subject?.id,
    application: e.application?.id,
    ip: e.source?.ip,
    country: e.source?.country,
    device: [e.source?.device?.type, e.source?.device?.os, e.source?.device?.browser]
      .filter(Boolean)
      .join(' / '),
    actor: [e.actor.type, e.actor.name ?? e.actor.id].filter(Boolean).join(':'),
    id: e.id,
  };
  // A value starting with = + - @ would run as a formula in a spreadsheet: quote it as text.
  return CSV_COLUMNS.map((c) => csvCell(cells[c]).replace(/^([=+\-@])/, "'$1")).join(',');
}

/** Events as CSV with a header line, one line each. */
export function auditCsv(events: readonly StoredAuditEvent[]): string {
  return [CSV_COLUMNS.join(','), ...events.map(csvRow)].map((line) => `${line}\n`).join('');
}
