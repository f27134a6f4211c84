import { describe, expect, it } from 'vitest';
import { AUDIT_PAGE_SIZE, auditFilterOf } from '../../src/admin/audit-filter.js';

describe("the console's audit search", () => {
  it('turns the form into the trail filter', () => {
    expect(
      auditFilterOf({
        user: ' anna ',
        action: 'signin.*',
        outcome: 'denied',
        ip: '10.0.0.0/8',
        since: '2026-12-01',
        until: '2026-12-01',
      }).filter,
    ).toEqual({
      limit: AUDIT_PAGE_SIZE,
      user: 'anna',
      action: 'signin.*',
      outcome: 'denied',
      ip: '10.0.0.0/8',
      since: '2026-12-01T00:00:00.000Z',
      // up to and including that day
      until: '2026-12-02T00:00:00.000Z',
    });
    expect(auditFilterOf({ since: '2026-12-01T08:30' }).filter.since).toBe('2026-12-01T08:30:00.000Z');
    expect(auditFilterOf({}).filter).toEqual({ limit: AUDIT_PAGE_SIZE });
  });

  it('reads the page asked for (before: a seq), and says when it is not one', () => {
    expect(auditFilterOf({ before: '250' })).toMatchObject({ filter: { before: 250 }, page: true });
    expect(auditFilterOf({}).page).toBe(true);
    for (const before of ['0', '-3', 'abc', '1.5', '1e3', ['1', '2'], '9'.repeat(16)])
      expect(auditFilterOf({ before }).page, String(before)).toBe(false);
  });

  it('names each field that is wrong, and keeps what was typed', () => {
    const { query, errors } = auditFilterOf({
      action: 'nonsense',
      outcome: 'maybe',
      ip: '10.0.0.300',
      since: 'yesterday',
      until: '2026-02-30',
      user: ['a', 'b'],
    });
    expect(errors).toEqual(['action', 'outcome', 'ip', 'since', 'until']);
    expect(query).toMatchObject({ action: 'nonsense', ip: '10.0.0.300', user: '' });
    expect(auditFilterOf({ action: '*' }).errors).toEqual(['action']);
    expect(auditFilterOf({ action: 'zz*' }).errors).toEqual(['action']);
    expect(auditFilterOf({ action: 'admin.*' }).errors).toEqual([]);
  });
});
