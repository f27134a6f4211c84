import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultPolicyFile } from '../../src/policy/load.js';
import { parsePolicy, PolicyError, readPolicyFile } from '../../src/policy/schema.js';
import { ISSUE_EXAMPLE, problemsOf } from './fixture.js';

const FILE = '/etc/poort/policies.yaml';

describe('the policy file', () => {
  it('reads the example of issue 5 as written', () => {
    const spec = parsePolicy(ISSUE_EXAMPLE, FILE);
    expect(spec.networks).toEqual({ office: ['192.0.2.0/24', '2001:db8:1::/48'], vpn: ['198.51.100.0/24'] });
    expect(spec.applications).toEqual({ payroll: { classification: 'high' } });
    expect(spec.rules.map((r) => [r.id, r.mode])).toEqual([
      ['block-embargoed', 'enforce'],
      ['outside-trusted-networks', 'enforce'],
      ['byod-mobile', 'enforce'],
      ['sensitive-apps', 'enforce'],
      ['impossible-travel', 'report_only'],
    ]);
    expect(spec.rules.map((r) => r.then)).toEqual([
      { kind: 'deny' },
      { kind: 'mfa', strength: 'any' },
      { kind: 'mfa', strength: 'any' },
      { kind: 'mfa', strength: 'phishing_resistant', maxAge: 8 * 3600 },
      { kind: 'mfa', strength: 'totp' },
    ]);
    expect(spec.default).toEqual({ kind: 'allow' });
    expect(spec.impossible_travel).toEqual({ max_speed_kmh: 900, min_distance_km: 100 });
    expect(spec.failed_attempts).toEqual({ within: 900 });
  });

  it('ships a default that allows everything, and its commented example validates', () => {
    const { text, spec } = readPolicyFile(defaultPolicyFile);
    expect(spec.rules).toEqual([]);
    expect(spec.default).toEqual({ kind: 'allow' });
    const example = text
      .slice(text.indexOf('# networks:'))
      .split('\n')
      .map((line) => line.replace(/^# ?/, ''))
      .join('\n');
    const parsed = parsePolicy(example, 'the example in config/policies.yaml');
    expect(parsed.rules.map((r) => r.id)).toEqual(parsePolicy(ISSUE_EXAMPLE, FILE).rules.map((r) => r.id));
  });

  it('reads an empty file, or empty sections, as allow everything', () => {
    expect(parsePolicy('', FILE)).toMatchObject({ rules: [], networks: {}, default: { kind: 'allow' } });
    expect(parsePolicy('networks:\napplications:\nrules:\n', FILE)).toMatchObject({ rules: [] });
  });

  it('reads every outcome form', () => {
    const spec = parsePolicy(
      `rules:
  - { id: a, when: { users: [x] }, then: allow }
  - { id: b, when: { users: [x] }, then: deny }
  - { id: c, when: { users: [x] }, then: { deny: { message: policy.denied.country } } }
  - { id: d, when: { users: [x] }, then: { mfa: {} } }
  - { id: e, when: { users: [x] }, then: { mfa: { strength: totp, max_age: 90 } } }
default: { mfa: { strength: any } }
`,
      FILE,
    );
    expect(spec.rules.map((r) => r.then)).toEqual([
      { kind: 'allow' },
      { kind: 'deny' },
      { kind: 'deny', message: 'policy.denied.country' },
      { kind: 'mfa', strength: 'any' },
      { kind: 'mfa', strength: 'totp', maxAge: 90 },
    ]);
    expect(spec.default).toEqual({ kind: 'mfa', strength: 'any' });
  });

  it('accepts country codes in any case and CIDR ranges of both families', () => {
    const spec = parsePolicy(
      `networks: { lab: [10.0.0.0/8, "fd00::/8", 192.0.2.7] }
rules:
  - { id: a, when: { country: { not_in: [nl, Be, unknown] }, network: { in: [lab, "2001:db8::/32"] } }, then: deny }
`,
      FILE,
    );
    expect(spec.rules[0]!.when.country).toEqual({ not_in: ['NL', 'BE', 'unknown'] });
  });
});

describe('a broken policy file', () => {
  const broken = (from: string, to: string) => ISSUE_EXAMPLE.replace(from, to);

  it('names the file, the rule and its id, the key and what was expected', () => {
    expect(problemsOf(broken('[mobile, tablet]', '[phone, tablet]'))).toEqual([
      '/etc/poort/policies.yaml: rules[2] (id "byod-mobile"): when.device.type[0]: expected one of mobile, tablet, desktop, got "phone" (line 14)',
    ]);
  });

  it('refuses unknown network names and says which exist', () => {
    expect(problemsOf(broken('[office, vpn]', '[office, vnp]'))).toEqual([
      `${FILE}: rules[1] (id "outside-trusted-networks"): when.network.not_in[1]: unknown network "vnp" (named networks: office, vpn; or give a CIDR range such as 10.0.0.0/8) (line 11)`,
    ]);
  });

  it('refuses duplicate rule ids', () => {
    expect(problemsOf(broken('id: byod-mobile', 'id: block-embargoed'))).toEqual([
      `${FILE}: rules[2] (id "block-embargoed"): id: duplicate rule id "block-embargoed" (also rules[0]) (line 13)`,
    ]);
  });

  it('refuses unknown keys everywhere, naming the keys it knows', () => {
    expect(problemsOf(broken('default: allow', 'default: allow\nrule: []'))).toEqual([
      `${FILE}: (top level): unknown key "rule" (expected networks, applications, impossible_travel, failed_attempts, rules, default) (line 24)`,
    ]);
    expect(problemsOf(broken('    mode: report_only', '    mode: report_only\n    enabled: false'))).toEqual([
      `${FILE}: rules[4] (id "impossible-travel"): unknown key "enabled" (expected id, description, when, unless, then, mode) (line 23)`,
    ]);
    expect(
      problemsOf(broken('{ country: { in: [KP, IR] } }', '{ countries: { in: [KP, IR] } }'))[0],
    ).toContain(
      'rules[0] (id "block-embargoed"): when: unknown key "countries" (expected network, country, device,',
    );
    expect(problemsOf(broken('strength: totp', 'strenght: totp'))).toEqual([
      `${FILE}: rules[4] (id "impossible-travel"): then.mfa: unknown key "strenght" (expected strength, max_age) (line 21)`,
    ]);
  });

  it('refuses bad CIDR ranges, in networks and in conditions', () => {
    expect(problemsOf(broken('198.51.100.0/24', '198.51.100.0/33'))).toEqual([
      `${FILE}: networks.vpn[0]: expected an IP address or CIDR range such as 192.0.2.0/24 or 2001:db8::/48, got "198.51.100.0/33" (line 3)`,
    ]);
    expect(problemsOf(broken('[office, vpn]', '[office, "2001:db8::/129"]'))).toEqual([
      `${FILE}: rules[1] (id "outside-trusted-networks"): when.network.not_in[1]: expected a CIDR range such as 10.0.0.0/8 or 2001:db8::/32, got "2001:db8::/129" (line 11)`,
    ]);
    expect(problemsOf({ networks: { '10.0.0.0/8': ['10.0.0.0/8'] } })).toEqual([
      `${FILE}: networks.10.0.0.0/8: expected a network name of letters, digits, _ . - (not an address) (line 2)`,
    ]);
  });

  it('refuses bad time zones and times', () => {
    const hours = (h: Record<string, unknown>) =>
      problemsOf({ rules: [{ id: 'office-hours', when: { hours: h }, then: 'allow' }] });
    expect(hours({ from: '08:00', to: '18:00', time_zone: 'Europe/Amsterdan' })).toEqual([
      `${FILE}: rules[0] (id "office-hours"): when.hours.time_zone: expected an IANA time zone such as Europe/Amsterdam or UTC, got "Europe/Amsterdan" (line 7)`,
    ]);
    expect(hours({ from: '8:00', to: '18:00', time_zone: 'UTC' })[0]).toContain(
      'when.hours.from: expected a time from 00:00 to 23:59 such as "08:00", got "8:00"',
    );
    expect(hours({ from: '24:00', to: '06:00', time_zone: 'UTC' })[0]).toContain('when.hours.from');
    expect(hours({ from: '08:00', time_zone: 'UTC' })[0]).toContain(
      'when.hours: expected both from and to, or neither (the whole day)',
    );
    expect(hours({ from: '08:00', to: '08:00', time_zone: 'UTC' })[0]).toContain(
      'from and to are the same time',
    );
    expect(hours({ days: ['monday'], time_zone: 'UTC' })[0]).toContain(
      'when.hours.days[0]: expected one of mon, tue, wed, thu, fri, sat, sun, got "monday"',
    );
    expect(hours({ days: ['mon'] })[0]).toContain('when.hours.time_zone: missing (expected a string)');
  });

  it('refuses what the conditions cannot mean', () => {
    const when = (w: unknown) => problemsOf({ rules: [{ id: 'r', when: w, then: 'deny' }] });
    expect(when({ country: { in: ['XX'] } })[0]).toContain(
      'when.country.in[0]: expected an ISO 3166 alpha-2 country code such as NL, or unknown, got "XX"',
    );
    expect(when({ country: { in: ['NLD'] } })[0]).toContain('got "NLD"');
    expect(when({ country: { in: ['NL'], not_in: ['BE'] } })[0]).toContain(
      'when.country: expected either in or not_in (one of them)',
    );
    expect(when({ network: {} })[0]).toContain('when.network: expected either in or not_in');
    expect(when({ country: { in: [] } })[0]).toContain(
      'when.country.in: expected a list with at least one entry',
    );
    expect(when({})[0]).toContain('when: expected at least one condition: network, country, device');
    expect(when(null)[0]).toContain('rules[0] (id "r"): when: expected a mapping, got nothing');
    expect(when({ device: {} })[0]).toContain(
      'when.device: expected at least one of type, os, managed, known',
    );
    expect(when({ device: { managed: 'no' } })[0]).toContain(
      'when.device.managed: expected true or false, got "no"',
    );
    expect(when({ application: { classification: ['high'] } })[0]).toContain(
      'when.application.classification[0]: no application has classification "high" (no application is classified; see applications)',
    );
    expect(when({ application: { ids: ['a'], classification: ['high'] } })[0]).toContain(
      'when.application: expected either ids or classification',
    );
    expect(when({ users: 'alice' })[0]).toContain('when.users: expected a list, got "alice"');
    expect(when({ impossible_travel: 'yes' })[0]).toContain('when.impossible_travel: expected true or false');
    expect(when({ failed_attempts: { at_least: 0 } })[0]).toContain(
      'when.failed_attempts.at_least: expected at least 1, got 0',
    );
    expect(when({ failed_attempts: { at_least: 3, within: 'a while' } })[0]).toContain(
      'when.failed_attempts.within: expected a duration such as 90s, 15m, 8h or 14d, got "a while"',
    );
  });

  it('refuses outcomes it does not know', () => {
    const then = (t: unknown) => problemsOf({ rules: [{ id: 'r', when: { users: ['x'] }, then: t }] });
    expect(then('block')[0]).toContain(
      'rules[0] (id "r"): then: expected allow, deny, { deny: { message: key } } or { mfa: { strength, max_age } }, got "block"',
    );
    expect(then({ mfa: { strength: 'sms' } })[0]).toContain(
      'then.mfa.strength: expected one of any, totp, phishing_resistant, got "sms"',
    );
    expect(then({ mfa: { max_age: '8 hours' } })[0]).toContain('then.mfa.max_age: expected a duration');
    expect(then({ deny: { message: 'not a key!' } })[0]).toContain(
      'then.deny.message: expected a message key such as policy.denied.country',
    );
    expect(problemsOf({ default: 'maybe' })[0]).toContain('default: expected allow, deny');
    expect(then(undefined)[0]).toContain('then: expected allow, deny');
    expect(
      problemsOf({ rules: [{ id: 'r', when: { users: ['x'] }, then: 'deny', mode: 'audit' }] })[0],
    ).toContain('rules[0] (id "r"): mode: expected one of enforce, report_only, got "audit"');
  });

  it('names a rule without an id by its place', () => {
    expect(problemsOf({ rules: [{ when: { users: ['x'] }, then: 'deny' }] })).toEqual([
      `${FILE}: rules[0]: id: missing (expected a string) (line 2)`,
    ]);
    expect(problemsOf({ rules: [{ id: 'has space', when: { users: ['x'] }, then: 'deny' }] })[0]).toContain(
      'rules[0] (id "has space"): id: expected an id of letters, digits, . _ - (at most 64)',
    );
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(
      broken('[mobile, tablet]', '[phone, tablet]')
        .replace('8h', '8 hours')
        .replace('strength: totp', 'strength: sms'),
    );
    expect(problems).toHaveLength(3);
    expect(problems.map((p) => p.replace(/^.*?: (rules\[\d\])/, '$1').slice(0, 8))).toEqual([
      'rules[2]',
      'rules[3]',
      'rules[4]',
    ]);
  });

  it('refuses YAML that does not parse, and duplicate keys, with the line', () => {
    expect(problemsOf('rules:\n  - id: a\n    when: { users: [x }\n')[0]).toMatch(
      /^\/etc\/poort\/policies.yaml: line 3: not valid YAML: /,
    );
    expect(problemsOf('default: allow\ndefault: deny\n')[0]).toMatch(/line 2: not valid YAML: .*unique/i);
  });

  it('says when the file cannot be read', () => {
    const missing = path.join(os.tmpdir(), 'poort-no-such-policies.yaml');
    expect(() => readPolicyFile(missing)).toThrow(PolicyError);
    expect(() => readPolicyFile(missing)).toThrow(`${missing}: cannot read the policy file: ENOENT`);
    expect(fs.existsSync(missing)).toBe(false);
  });
});
