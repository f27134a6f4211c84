import type { StoredAuditEvent } from '../audit/event.js';

/** How far back the account page shows sign-in attempts, and how many at most. */
export const ACTIVITY_DAYS = 30;
export const ACTIVITY_LIMIT = 50;

/** What happened at one attempt, as the person reads it. */
export type ActivityKind =
  'signed_in' | 'wrong_password' | 'second_factor_failed' | 'denied' | 'throttled' | 'failed';

export interface ActivityRow {
  /** ISO-8601 */
  time: string;
  kind: ActivityKind;
  /** whether it went through: the person looks twice at what did not */
  ok: boolean;
  browser?: string;
  os?: string;
  /** ISO 3166 alpha-2; null for private and unknown addresses */
  country: string | null;
  ip?: string;
  /** the application signed in to */
  application?: string;
}

function kindOf(event: StoredAuditEvent['event']): ActivityKind | undefined {
  switch (event.action) {
    case 'signin.completed':
      return event.outcome === 'success' ? 'signed_in' : undefined;
    case 'signin.password':
      if (event.outcome !== 'failure' || event.reason === 'directory_unavailable') return undefined;
      return event.details?.failure === undefined || event.details.failure === 'wrong_password'
        ? 'wrong_password'
        : 'failed';
    case 'signin.mfa':
      return event.outcome === 'failure' ? 'second_factor_failed' : undefined;
    case 'signin.denied':
      return 'denied';
    case 'signin.throttled':
      return 'throttled';
    case 'signin.upstream':
      return event.outcome === 'failure' && event.reason !== 'upstream_unavailable' ? 'failed' : undefined;
    default:
      return undefined;
  }
}

/**
 * The sign-in attempts on the account `userId` among `events` (newest first, as the trail answers), as the account
 * page lists them: completed sign-ins, and what stopped the others. Events whose subject is another account are
 * left out, whatever name they were found by.
 */
export function activityOf(events: StoredAuditEvent[], userId: string): ActivityRow[] {
  const rows: ActivityRow[] = [];
  for (const { event } of events) {
    if (event.subject?.id !== userId) continue;
    const kind = kindOf(event);
    if (!kind) continue;
    const source = event.source ?? {};
    rows.push({
      time: event.time,
      kind,
      ok: kind === 'signed_in',
      ...(source.device?.browser ? { browser: source.device.browser } : {}),
      ...(source.device?.os ? { os: source.device.os } : {}),
      country: source.country ?? null,
      ...(source.ip ? { ip: source.ip } : {}),
      ...(event.application ? { application: event.application.id } : {}),
    });
    if (rows.length === ACTIVITY_LIMIT) break;
  }
  return rows;
}
