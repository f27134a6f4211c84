import { afterEach, describe, expect, it, vi } from 'vitest';
import { decide, describeOutcome, strictest } from '../../src/policy/decide.js';
import type { Outcome } from '../../src/policy/types.js';
import { compile, compileObject, context, ISSUE_EXAMPLE, MONDAY_NOON_AMSTERDAM } from './fixture.js';

const example = compile(ISSUE_EXAMPLE);

describe('deciding with the policy of issue 5', () => {
  it('allows a desktop in the office with the password only', () => {
    const decision = decide(example, context({ ip: '192.0.2.10', country: 'unknown' }));
    expect(decision.outcome).toEqual({ kind: 'allow' });
    expect(decision.rules).toEqual([]);
    expect(decision.reportOnly).toEqual([]);
  });

  it('asks for a second factor outside the trusted networks, IPv4 and IPv6', () => {
    for (const ip of ['145.97.39.155', '2001:db8:2::1']) {
      const decision = decide(example, context({ ip }));
      expect(decision.outcome).toEqual({ kind: 'mfa', strength: 'any' });
      expect(decision.rules).toEqual(['outside-trusted-networks']);
    }
    expect(decide(example, context({ ip: '2001:db8:1::10', country: 'unknown' })).outcome).toEqual({
      kind: 'allow',
    });
  });

  it('denies embargoed countries, whatever else matches', () => {
    const decision = decide(
      example,
      context({
        ip: '175.45.176.1',
        country: 'KP',
        device: { type: 'mobile' },
        application: { id: 'payroll' },
      }),
    );
    expect(decision.outcome).toEqual({ kind: 'deny' });
    expect(decision.rules).toEqual([
      'block-embargoed',
      'outside-trusted-networks',
      'byod-mobile',
      'sensitive-apps',
    ]);
  });

  it('asks a personal phone in the office for a second factor; a managed one not', () => {
    const office = { ip: '198.51.100.7', country: 'unknown' };
    expect(decide(example, context({ ...office, device: { type: 'mobile', os: 'iOS' } })).rules).toEqual([
      'byod-mobile',
    ]);
    expect(
      decide(example, context({ ...office, device: { type: 'tablet', managed: true } })).outcome,
    ).toEqual({
      kind: 'allow',
    });
  });

  it('asks for a fresh phishing-resistant factor for a high application, the strictest of all that match', () => {
    const decision = decide(example, context({ device: { type: 'mobile' }, application: { id: 'payroll' } }));
    expect(decision.outcome).toEqual({ kind: 'mfa', strength: 'phishing_resistant', maxAge: 8 * 3600 });
    expect(decision.rules).toEqual(['outside-trusted-networks', 'byod-mobile', 'sensitive-apps']);
  });

  it('records a report-only rule without enforcing it', () => {
    const travelled = context({
      ip: '192.0.2.10',
      country: 'unknown',
      location: { lat: 37.751, lon: -97.822 },
      previous: {
        at: MONDAY_NOON_AMSTERDAM - 10 * 60_000,
        country: 'NL',
        location: { lat: 52.06, lon: 4.49 },
      },
    });
    const decision = decide(example, travelled);
    expect(decision.outcome).toEqual({ kind: 'allow' });
    expect(decision.rules).toEqual([]);
    expect(decision.reportOnly).toEqual([
      { rule: 'impossible-travel', outcome: { kind: 'mfa', strength: 'totp' } },
    ]);
    expect(decision.trace.at(-1)).toMatchObject({
      rule: 'impossible-travel',
      matched: true,
      reportOnly: true,
    });
  });

  it('traces every rule in order: whether it matched and why', () => {
    const decision = decide(example, context());
    expect(decision.trace).toEqual([
      { rule: 'block-embargoed', matched: false, why: 'country NL is not in KP, IR', reportOnly: false },
      {
        rule: 'outside-trusted-networks',
        matched: true,
        why: 'network 145.97.39.155 is not in office, vpn',
        reportOnly: false,
      },
      {
        rule: 'byod-mobile',
        matched: false,
        why: 'device type desktop is not one of mobile, tablet',
        reportOnly: false,
      },
      {
        rule: 'sensitive-apps',
        matched: false,
        why: 'application portal is not classified high',
        reportOnly: false,
      },
      {
        rule: 'impossible-travel',
        matched: false,
        why: 'impossible travel not detected: no previous sign-in with a location',
        reportOnly: true,
      },
    ]);
  });

  it('carries the trace in JSON and copies', () => {
    const decision = decide(example, context());
    const json = JSON.parse(JSON.stringify(decision)) as { trace: unknown[] };
    expect(json.trace).toHaveLength(5);
    expect({ ...decision }.trace).toBe(decision.trace);
    expect(structuredClone(decision).trace).toEqual(decision.trace);
  });
});

describe('combining rules', () => {
  const rule = (id: string, then: unknown, extra: Record<string, unknown> = {}) => ({
    id,
    when: { groups: ['staff'] },
    then,
    ...extra,
  });

  it('takes the strongest strength and the shortest max_age of every mfa rule that matches', () => {
    const policy = compileObject({
      rules: [
        rule('a', { mfa: { strength: 'totp', max_age: '12h' } }),
        rule('b', { mfa: { strength: 'phishing_resistant', max_age: '8h' } }),
        rule('c', { mfa: { strength: 'any', max_age: '1h' } }),
        rule('d', { mfa: { strength: 'any' } }),
      ],
    });
    expect(decide(policy, context()).outcome).toEqual({
      kind: 'mfa',
      strength: 'phishing_resistant',
      maxAge: 3600,
    });
  });

  it('never lets rule order weaken a rule', () => {
    const rules = [rule('allow', 'allow'), rule('mfa', { mfa: { strength: 'totp' } }), rule('deny', 'deny')];
    for (const order of [rules, [...rules].reverse(), [rules[1], rules[2], rules[0]]]) {
      expect(decide(compileObject({ rules: order }), context()).outcome).toEqual({ kind: 'deny' });
    }
    const noDeny = [rules[0], rules[1]];
    for (const order of [noDeny, [...noDeny].reverse()]) {
      expect(decide(compileObject({ rules: order }), context()).outcome).toEqual({
        kind: 'mfa',
        strength: 'totp',
      });
    }
  });

  it('keeps the message of the first deny', () => {
    const policy = compileObject({
      rules: [
        rule('a', { deny: { message: 'policy.denied.first' } }),
        rule('b', { deny: { message: 'policy.denied.second' } }),
      ],
    });
    expect(decide(policy, context()).outcome).toEqual({ kind: 'deny', message: 'policy.denied.first' });
  });

  it('applies the default only when no enforced rule matches', () => {
    const policy = compileObject({
      rules: [
        { id: 'office', when: { network: { in: ['192.0.2.0/24'] } }, then: 'allow' },
        { id: 'trial', when: { groups: ['staff'] }, then: 'allow', mode: 'report_only' },
      ],
      default: 'deny',
    });
    const outside = decide(policy, context());
    expect(outside.outcome).toEqual({ kind: 'deny' });
    expect(outside.rules).toEqual([]);
    expect(outside.reportOnly).toEqual([{ rule: 'trial', outcome: { kind: 'allow' } }]);
    expect(decide(policy, context({ ip: '192.0.2.1' }))).toMatchObject({
      outcome: { kind: 'allow' },
      rules: ['office'],
    });
    expect(
      decide(compileObject({ default: { mfa: { strength: 'totp', max_age: '1d' } } }), context()).outcome,
    ).toEqual({
      kind: 'mfa',
      strength: 'totp',
      maxAge: 86400,
    });
  });

  it('exempts what unless matches', () => {
    const policy = compileObject({
      networks: { office: ['192.0.2.0/24'] },
      rules: [
        {
          id: 'outside-office',
          when: { network: { not_in: ['office'] } },
          unless: { groups: ['field-staff'], device: { managed: true } },
          then: { mfa: { strength: 'any' } },
        },
      ],
    });
    const exempt = decide(policy, context({ user: { groups: ['field-staff'] }, device: { managed: true } }));
    expect(exempt.outcome).toEqual({ kind: 'allow' });
    expect(exempt.trace[0]).toEqual({
      rule: 'outside-office',
      matched: false,
      why: 'network 145.97.39.155 is not in office, but exempt: user alice is in group field-staff and device is managed',
      reportOnly: false,
    });
    // unless needs all of its conditions, like when
    expect(decide(policy, context({ user: { groups: ['field-staff'] } })).rules).toEqual(['outside-office']);
    expect(decide(policy, context({ device: { managed: true } })).rules).toEqual(['outside-office']);
  });

  it('needs every condition of a when', () => {
    const policy = compileObject({
      rules: [
        {
          id: 'r',
          when: { groups: ['staff'], country: { in: ['NL'] }, device: { type: ['desktop'] } },
          then: 'deny',
        },
      ],
    });
    expect(decide(policy, context()).rules).toEqual(['r']);
    expect(decide(policy, context({ country: 'BE' })).trace[0]!.why).toBe('country BE is not in NL');
    expect(decide(policy, context()).trace[0]!.why).toBe(
      'user alice is in group staff and country NL is in NL and device type desktop is one of desktop',
    );
  });
});

describe('the engine', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reads no clock: the time is the context’s', () => {
    vi.spyOn(Date, 'now').mockImplementation(() => {
      throw new Error('decide read the clock');
    });
    const policy = compileObject({
      rules: [
        {
          id: 'h',
          when: { hours: { from: '08:00', to: '18:00', time_zone: 'Europe/Amsterdam' } },
          then: 'deny',
        },
        { id: 'f', when: { failed_attempts: { at_least: 1 } }, then: 'deny' },
        { id: 't', when: { impossible_travel: true }, then: 'deny' },
      ],
    });
    const decision = decide(policy, context());
    expect(decision.rules).toEqual(['h']);
    expect(decision.trace).toHaveLength(3);
  });

  it('gives the same decision for the same context', () => {
    const ctx = context({ device: { type: 'mobile' } });
    expect(JSON.stringify(decide(example, ctx))).toBe(JSON.stringify(decide(example, ctx)));
  });

  it('knows the named networks of an address, the classifications and how far back failures count', () => {
    expect(example.networksOf('192.0.2.1')).toEqual(['office']);
    expect(example.networksOf('2001:db8:1::1')).toEqual(['office']);
    expect(example.networksOf('145.97.39.155')).toEqual([]);
    expect(example.networksOf('nonsense')).toEqual([]);
    expect(example.classificationOf('payroll')).toBe('high');
    expect(example.classificationOf('wiki')).toBeUndefined();
    expect(example.failuresWindow).toBe(900);
    const longer = compileObject({
      rules: [
        {
          id: 'r',
          when: { users: ['x'] },
          unless: { failed_attempts: { at_least: 9, within: '2h' } },
          then: 'deny',
        },
      ],
    });
    expect(longer.failuresWindow).toBe(7200);
  });

  it('orders outcomes: deny over mfa over allow', () => {
    const allow: Outcome = { kind: 'allow' };
    const deny: Outcome = { kind: 'deny' };
    const any: Outcome = { kind: 'mfa', strength: 'any', maxAge: 600 };
    const strong: Outcome = { kind: 'mfa', strength: 'phishing_resistant' };
    expect(strictest(allow, any)).toBe(any);
    expect(strictest(any, allow)).toBe(any);
    expect(strictest(any, deny)).toBe(deny);
    expect(strictest(allow, allow)).toBe(allow);
    expect(strictest(any, strong)).toEqual({ kind: 'mfa', strength: 'phishing_resistant', maxAge: 600 });
    expect(strictest(strong, { kind: 'mfa', strength: 'totp' })).toBe(strong);
  });

  it('describes outcomes in words', () => {
    expect(describeOutcome({ kind: 'allow' })).toBe('allow');
    expect(describeOutcome({ kind: 'deny', message: 'policy.x' })).toBe('deny (message policy.x)');
    expect(describeOutcome({ kind: 'mfa', strength: 'totp' })).toBe('mfa totp');
    expect(describeOutcome({ kind: 'mfa', strength: 'phishing_resistant', maxAge: 28800 })).toBe(
      'mfa phishing_resistant, max age 8h',
    );
    expect(describeOutcome({ kind: 'mfa', strength: 'any', maxAge: 90 })).toBe('mfa any, max age 90s');
  });
});
