import { describe, expect, it } from 'vitest';
import { decide } from '../../src/policy/decide.js';
import type { PolicyContext } from '../../src/policy/types.js';
import { compileObject, context, MONDAY_NOON_AMSTERDAM } from './fixture.js';

/**
 * How many decisions per second a policy of 50 rules allows (issue 5 aims at 100,000 or more). It prints the number
 * and asserts nothing about time: timings depend on the machine; `npm run bench` tracks them.
 */

const CONDITIONS: Array<Record<string, unknown>> = [
  { network: { not_in: ['office', 'vpn'] } },
  { network: { in: ['10.20.0.0/16', '2001:db8:ff::/48'] } },
  { country: { in: ['KP', 'IR', 'SY', 'CU'] } },
  { country: { not_in: ['NL', 'BE', 'DE', 'unknown'] } },
  { device: { type: ['mobile', 'tablet'], managed: false } },
  { device: { os: ['iOS', 'Android'], known: false } },
  { application: { classification: ['high'] } },
  { application: { ids: ['payroll', 'hr', 'finance'] } },
  { groups: ['admins', 'finance'] },
  { users: ['root', 'admin', 'alice'] },
  { hours: { days: ['sat', 'sun'], time_zone: 'Europe/Amsterdam' } },
  { hours: { from: '22:00', to: '06:00', time_zone: 'America/New_York' } },
  { impossible_travel: true },
  { failed_attempts: { at_least: 3, within: '15m' } },
  { network: { in: ['office'] }, device: { managed: true } },
];

function fiftyRules() {
  return Array.from({ length: 50 }, (_, i) => ({
    id: `rule-${i}`,
    when: { ...CONDITIONS[i % CONDITIONS.length], ...(i >= 30 ? { groups: ['staff', `team-${i}`] } : {}) },
    ...(i % 7 === 3 ? { unless: { network: { in: ['vpn'] } } } : {}),
    then: [
      'deny',
      { mfa: { strength: 'any' } },
      { mfa: { strength: 'totp', max_age: '12h' } },
      { mfa: { strength: 'phishing_resistant', max_age: '8h' } },
      'allow',
    ][i % 5],
    ...(i % 10 === 9 ? { mode: 'report_only' } : {}),
  }));
}

const policy = compileObject({
  networks: {
    office: ['192.0.2.0/24', '2001:db8:1::/48'],
    vpn: ['198.51.100.0/24', '2001:db8:2::/48'],
  },
  applications: { payroll: { classification: 'high' }, wiki: { classification: 'low' } },
  rules: fiftyRules(),
  default: 'allow',
});

const contexts: PolicyContext[] = [
  context(),
  context({ ip: '192.0.2.10', country: 'unknown' }),
  context({ ip: '2001:db8:1::7', country: 'unknown', device: { type: 'mobile', os: 'iOS' } }),
  context({ ip: '175.45.176.1', country: 'KP', application: { id: 'payroll' } }),
  context({
    ip: '8.8.8.8',
    country: 'US',
    previous: { at: MONDAY_NOON_AMSTERDAM - 600_000, country: 'NL', location: { lat: 52, lon: 4.5 } },
    location: { lat: 37.75, lon: -97.8 },
  }),
  context({
    ip: '198.51.100.20',
    user: { username: 'bob', groups: ['finance'] },
    failures: [1, 2, 3].map((m) => MONDAY_NOON_AMSTERDAM - m * 60_000),
  }),
  context({ ip: '10.20.3.4', country: 'unknown', device: { managed: true, known: true } }),
  context({ ip: '::ffff:145.97.39.155', application: { id: 'wiki' } }),
];

describe('decision throughput', () => {
  it('decides with 50 rules; prints decisions per second', () => {
    expect(policy.rules).toHaveLength(50);
    const run = (n: number, start: number) => {
      let denied = 0;
      for (let i = 0; i < n; i++) {
        const base = contexts[i % contexts.length]!;
        // a second per attempt: the clock moves as it does under load
        const decision = decide(policy, { ...base, now: start + i * 1000 });
        if (decision.outcome.kind === 'deny') denied++;
      }
      return denied;
    };
    run(20_000, MONDAY_NOON_AMSTERDAM);
    const n = 200_000;
    const started = performance.now();
    const denied = run(n, MONDAY_NOON_AMSTERDAM);
    const seconds = (performance.now() - started) / 1000;
    const perSecond = Math.round(n / seconds);
    console.log(
      `policy decide: ${perSecond.toLocaleString('en')} decisions/s with 50 rules (${(1e6 / perSecond).toFixed(2)} µs each)`,
    );
    expect(denied).toBeGreaterThan(0);
    expect(denied).toBeLessThan(n);
  });
});
