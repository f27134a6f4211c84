import type { AuditLog } from '../audit/log.js';
import type { StoredAuditEvent } from '../audit/event.js';
import { countryName, type Translate } from '../http/i18n.js';

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

/** The sign-in attempts on `userId` of the last ACTIVITY_DAYS, newest first. */
export async function recentActivity(audit: Pick<AuditLog, 'query'>, userId: string): Promise<ActivityRow[]> {
  const since = new Date(Date.now() - ACTIVITY_DAYS * 86400_000).toISOString();
  return activityOf(
    await audit.query({ user: userId, action: 'signin.*', since, limit: 4 * ACTIVITY_LIMIT }),
    userId,
  );
}

/** A row as the activity table (views/activity-table.njk) shows it, in the page's language. */
export interface ActivityCells {
  iso: string;
  when: string;
  what: string;
  ok: boolean;
  browser: string;
  place: string;
  ip: string;
  application: string;
}

export function activityCells(rows: ActivityRow[], lang: string, t: Translate): ActivityCells[] {
  const dates = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
  const place = (country: string | null) =>
    country ? countryName(country, lang) : t('account.activity.unknown_place');
  return rows.map((r) => ({
    iso: r.time,
    when: `${dates.format(new Date(r.time))} UTC`,
    what: t(`account.activity.kind.${r.kind}`),
    ok: r.ok,
    browser:
      r.browser && r.os
        ? t('account.activity.browser_on', { browser: r.browser, os: r.os })
        : (r.browser ?? r.os ?? t('account.activity.unknown_browser')),
    place: place(r.country),
    ip: r.ip ?? '',
    application: r.application ?? '',
  }));
}
