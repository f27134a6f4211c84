import { describe, expect, it } from 'vitest';
import { cefHeader, cefValue, toCef } from '../../../src/audit/cef.js';
import type { StoredAuditEvent } from '../../../src/audit/event.js';

const stored: StoredAuditEvent = {
  seq: 42,
  prevHash: 'p',
  hash: 'h',
  event: {
    id: '0b7e3c52-5d36-4f0e-9a55-1f1b7d7f2a10',
    time: '2025-03-01T12:00:00.123Z',
    action: 'signin.denied',
    outcome: 'denied',
    actor: { type: 'user', name: 'alice' },
    subject: { id: 'u-1', username: 'alice', known: true },
    application: { id: 'wiki', protocol: 'oidc' },
    source: { ip: '198.51.100.7', user_agent: 'curl/8.0 a=b\\c\nnext' },
    reason: 'policy_denied',
    policy: { rule: 'block-tor', decision: 'deny' },
  },
};

/** Splits the extension part as a CEF parser does: keys are the words before an unescaped `=`. */
function extensions(line: string): Record<string, string> {
  const ext = line
    .split(/(?<!\\)\|/)
    .slice(7)
    .join('|');
  const out: Record<string, string> = {};
  const re = /(\w+)=((?:\\.|[^\\])*?)(?=\s\w+=|$)/g;
  for (const m of ext.matchAll(re)) {
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
  }
  return out;
}

describe('CEF', () => {
  it('writes the header and the extensions', () => {
    const line = toCef(stored, '1.2.3');
    expect(line.startsWith('CEF:0|Poort|Poort|1.2.3|signin.denied|Sign-in denied|7|')).toBe(true);
    expect(line).not.toContain('\n');
    const ext = extensions(line);
    expect(ext).toMatchObject({
      rt: String(Date.parse(stored.event.time)),
      act: 'signin.denied',
      outcome: 'denied',
      suser: 'alice',
      cs2Label: 'actorType',
      cs2: 'user',
      duser: 'alice',
      duid: 'u-1',
      src: '198.51.100.7',
      requestClientApplication: 'curl/8.0 a=b\\c\nnext',
      cs1Label: 'application',
      cs1: 'wiki',
      reason: 'policy_denied',
      cs4Label: 'policyRule',
      cs4: 'block-tor',
      externalId: stored.event.id,
      cn1Label: 'seq',
      cn1: '42',
    });
  });

  it('maps the outcome to the severity and puts IPv6 sources in c6a2', () => {
    const severity = (outcome: 'success' | 'failure' | 'denied') =>
      toCef({ ...stored, event: { ...stored.event, outcome } }, '1').split('|')[6];
    expect([severity('success'), severity('failure'), severity('denied')]).toEqual(['3', '5', '7']);
    const v6 = toCef({ ...stored, event: { ...stored.event, source: { ip: '2001:db8::1' } } }, '1');
    expect(extensions(v6)).toMatchObject({ c6a2Label: 'Source IPv6 Address', c6a2: '2001:db8::1' });
    expect(v6).not.toContain(' src=');
  });

  it('escapes | and \\ in the header, and = \\ and line breaks in extension values', () => {
    expect(cefHeader('a|b\\c\nd')).toBe('a\\|b\\\\c d');
    expect(cefValue('a=b\\c\r\nd|e')).toBe('a\\=b\\\\c\\r\\nd|e');
    const line = toCef(stored, 'v|1\\x');
    expect(line.split(/(?<!\\)\|/)[3]).toBe('v\\|1\\\\x');
  });

  it('leaves out what the event does not have', () => {
    const bare: StoredAuditEvent = {
      seq: 1,
      prevHash: 'p',
      hash: 'h',
      event: {
        id: 'x',
        time: '2025-01-01T00:00:00.000Z',
        action: 'keys.rotated',
        outcome: 'success',
        actor: { type: 'cli' },
      },
    };
    expect(toCef(bare, '1')).toBe(
      'CEF:0|Poort|Poort|1|keys.rotated|Signing keys rotated|3|rt=1735689600000 act=keys.rotated outcome=success cs2Label=actorType cs2=cli externalId=x cn1Label=seq cn1=1',
    );
  });
});
