import { auditCsv } from '../audit/csv.js';
import { AUDIT_ACTIONS, type StoredAuditEvent } from '../audit/event.js';
import { shippingStatus } from '../audit/shipping-status.js';
import { shippedSinkNames } from '../server/sink-names.js';
import { ADMIN, adminForm, type AdminConsole } from './console.js';
import { AUDIT_EXPORT_LIMIT, auditFilterOf } from './audit-filter.js';

const AUDIT = `${ADMIN}/audit`;

/** One event as a row of the results table; the whole event, as stored, is shown beside it. */
function row(stored: StoredAuditEvent) {
  const e = stored.event;
  return {
    seq: stored.seq,
    time: e.time,
    action: e.action,
    outcome: e.outcome,
    reason: e.reason,
    actor: e.actor.name ?? e.actor.type,
    actorType: e.actor.type,
    user: e.subject?.username ?? e.subject?.id,
    application: e.application?.id,
    ip: e.source?.ip,
    country: e.source?.country,
    json: JSON.stringify(e, null, 2),
  };
}

function withParam(params: URLSearchParams, name: string, value: string): string {
  const next = new URLSearchParams(params);
  next.set(name, value);
  return next.toString();
}

/**
 * The trail for auditors and security officers: a search by user, action, outcome, address and time, a check of the
 * chain, and how far each sink has taken it. Reading the trail is itself recorded (`audit.searched`,
 * `audit.verified`): who looked at what is evidence too.
 */
export function auditRoutes(console: AdminConsole): void {
  const { router } = console;
  const { audit, kv, config } = console.deps.services;

  router.get(AUDIT, async (req, res) => {
    const v = await console.visit(req, res, 'audit.read', false);
    if (!v) return;
    const { query, filter, errors, page } = auditFilterOf(req.query);
    if (!page) return console.deps.showError(req, res, 400, 'invalid_request');
    const events = errors.length === 0 ? await audit.query(filter) : [];
    const searchParams = new URLSearchParams(Object.entries(query).filter(([, value]) => value !== ''));
    const full = events.length === filter.limit;
    // how far each sink (the SIEM) has taken the trail, and which node ships it
    const shipping = await shippingStatus(audit, kv, shippedSinkNames(config));
    if (errors.length === 0) {
      const { limit: _limit, ...searched } = filter;
      await console.record(req, v, {
        action: 'audit.searched',
        details: { filter: searched, results: events.length },
      });
    }
    console.render(
      req,
      res,
      v,
      'audit',
      {
        query,
        errors: Object.fromEntries(errors.map((f) => [f, true])),
        hasErrors: errors.length > 0,
        actions: AUDIT_ACTIONS,
        events: events.map(row),
        full,
        before: filter.before,
        // the next page: the same search, below the last event shown
        older: full ? `${AUDIT}?${withParam(searchParams, 'before', String(events.at(-1)!.seq))}` : undefined,
        newest: filter.before ? `${AUDIT}?${searchParams.toString()}` : undefined,
        verify: `${AUDIT}/verify`,
        csv: errors.length === 0 ? `${AUDIT}.csv?${searchParams.toString()}` : undefined,
        shipping,
      },
      errors.length > 0 ? 400 : 200,
    );
  });

  /** The same search as CSV, for the auditor's spreadsheet; recorded like a search, with its format. */
  router.get(`${AUDIT}.csv`, async (req, res) => {
    const v = await console.visit(req, res, 'audit.read', false);
    if (!v) return;
    const { filter, errors } = auditFilterOf(req.query);
    if (errors.length > 0) return console.deps.showError(req, res, 400, 'invalid_request');
    // the whole search from its newest event, whichever page the link was on
    const { before: _page, limit: _limit, ...searched } = filter;
    const events = await audit.query({ ...searched, limit: AUDIT_EXPORT_LIMIT });
    await console.record(req, v, {
      action: 'audit.searched',
      details: { filter: searched, results: events.length, format: 'csv' },
    });
    const day = new Date().toISOString().slice(0, 10);
    res
      .status(200)
      .type('text/csv; charset=utf-8')
      .set('Content-Disposition', `attachment; filename="poort-audit-${day}.csv"`)
      .send(auditCsv(events));
  });

  router.post(`${AUDIT}/verify`, adminForm, async (req, res) => {
    const v = await console.visit(req, res, 'audit.read', true);
    if (!v) return;
    const report = await audit.verify();
    await console.record(req, v, {
      action: 'audit.verified',
      outcome: report.ok ? 'success' : 'failure',
      ...(report.problem ? { reason: 'chain_broken' } : {}),
      details: {
        events: report.events,
        checkpoints: report.checkpoints,
        uncovered: report.uncovered,
        ...(report.problem ? { problem: report.problem } : {}),
      },
    });
    console.render(req, res, v, 'audit-verified', { report, back: AUDIT });
  });
}
