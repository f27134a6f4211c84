import { AUDIT_ACTIONS, type AuditOutcome } from '../audit/event.js';
import type { AuditFilter } from '../audit/log.js';
import { isValidCidr } from '../http/cidr.js';

export const AUDIT_PAGE_SIZE = 100;
/** the most events one CSV export holds; a larger period is exported in parts, or with `poort audit search --csv` */
export const AUDIT_EXPORT_LIMIT = 10_000;

const OUTCOMES: readonly AuditOutcome[] = ['success', 'failure', 'denied'];

/** The search form's fields, as typed. */
export interface AuditQuery {
  user: string;
  action: string;
  outcome: string;
  ip: string;
  since: string;
  until: string;
}

export type AuditQueryField = keyof AuditQuery;

/**
 * A date (`2026-12-01`: the day's start in UTC, or for `until` the next day's, so the day is included) or a time
 * (`2026-12-01T08:00`, UTC) as ISO-8601; else undefined.
 */
function instant(value: string, bound: 'since' | 'until'): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?$/.test(value)) return undefined;
  const day = value.length === 10;
  const time = new Date(day ? `${value}T00:00:00Z` : `${value}Z`);
  // a day that does not exist (2026-02-30) is not rolled over into the next month
  if (Number.isNaN(time.getTime()) || time.toISOString().slice(0, 10) !== value.slice(0, 10))
    return undefined;
  if (day && bound === 'until') time.setUTCDate(time.getUTCDate() + 1);
  return time.toISOString();
}

/**
 * The console's audit search, from the query string: what each field means for the trail's filter, or which fields
 * are wrong (each named, so the page can tie the error to its field).
 */
export function auditFilterOf(query: Record<string, unknown>): {
  query: AuditQuery;
  filter: AuditFilter;
  errors: AuditQueryField[];
  /** false when the page asked for (`before`, from the "older events" link) is not one: a hand-made address */
  page: boolean;
} {
  const text = (name: AuditQueryField) =>
    typeof query[name] === 'string' ? (query[name] as string).trim().slice(0, 200) : '';
  const q: AuditQuery = {
    user: text('user'),
    action: text('action'),
    outcome: text('outcome'),
    ip: text('ip'),
    since: text('since'),
    until: text('until'),
  };
  const errors: AuditQueryField[] = [];
  const filter: AuditFilter = { limit: AUDIT_PAGE_SIZE };
  if (q.user) filter.user = q.user;
  if (q.action) {
    const prefix = q.action.endsWith('*') ? q.action.slice(0, -1) : undefined;
    const known =
      prefix !== undefined
        ? /^[a-z_.]+$/.test(prefix) && AUDIT_ACTIONS.some((a) => a.startsWith(prefix))
        : (AUDIT_ACTIONS as readonly string[]).includes(q.action);
    if (known) filter.action = q.action;
    else errors.push('action');
  }
  if (q.outcome) {
    if ((OUTCOMES as readonly string[]).includes(q.outcome)) filter.outcome = q.outcome;
    else errors.push('outcome');
  }
  if (q.ip) {
    if (isValidCidr(q.ip)) filter.ip = q.ip;
    else errors.push('ip');
  }
  for (const bound of ['since', 'until'] as const) {
    if (!q[bound]) continue;
    const at = instant(q[bound], bound);
    if (at) filter[bound] = at;
    else errors.push(bound);
  }
  let page = true;
  if (query.before !== undefined) {
    const before =
      typeof query.before === 'string' && /^[1-9]\d{0,14}$/.test(query.before) ? Number(query.before) : 0;
    if (before > 0) filter.before = before;
    else page = false;
  }
  return { query: q, filter, errors, page };
}
