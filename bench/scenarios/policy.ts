import { performance } from 'node:perf_hooks';
import YAML from 'yaml';
import { compilePolicy, decide } from '../../src/policy/decide.js';
import { parsePolicy } from '../../src/policy/schema.js';
import type { PolicyContext } from '../../src/policy/types.js';

export interface PolicyResult {
  rules: number;
  contexts: number;
  decisions: number;
  elapsedMs: number;
  /** decisions per second */
  rate: number;
  /** wall time per decision, in microseconds */
  usPerDecision: number;
  /** CPU of this process per decision (process.cpuUsage: all threads, GC helpers too), in microseconds */
  cpuUsPerDecision: number;
  /** decisions whose trace was read (worded), as a denial or a log line would */
  traces: number;
  /** outcomes over the measured decisions */
  outcomes: { allow: number; mfa: number; deny: number };
  /** CPU the rest of the machine used meanwhile, as a share of all cores */
  otherCpuShare: number;
}

const WARMUP_MS = 500;
/** the deadline is looked at once per batch, so the clock costs next to nothing */
const BATCH = 256;
/** one decision in this many has its trace read; enforcement itself never reads it */
const TRACE_EVERY = 1024;

/** 2026-06-15 10:00 UTC, a Monday (12:00 in Amsterdam). */
const MONDAY_NOON_AMSTERDAM = Date.UTC(2026, 5, 15, 10, 0);

/** The conditions of the 50 rules, in turn (as test/policy/throughput.test.ts). */
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
const OUTCOMES = [
  'deny',
  { mfa: { strength: 'any' } },
  { mfa: { strength: 'totp', max_age: '12h' } },
  { mfa: { strength: 'phishing_resistant', max_age: '8h' } },
  'allow',
];

/** A policy of `n` rules over every kind of condition, some with `unless`, one in ten report-only, as YAML. */
export function policyText(n = 50): string {
  return YAML.stringify({
    networks: {
      office: ['192.0.2.0/24', '2001:db8:1::/48'],
      vpn: ['198.51.100.0/24', '2001:db8:2::/48'],
    },
    applications: { payroll: { classification: 'high' }, wiki: { classification: 'low' } },
    rules: Array.from({ length: n }, (_, i) => ({
      id: `rule-${i}`,
      when: { ...CONDITIONS[i % CONDITIONS.length], ...(i >= 30 ? { groups: ['staff', `team-${i}`] } : {}) },
      ...(i % 7 === 3 ? { unless: { network: { in: ['vpn'] } } } : {}),
      then: OUTCOMES[i % OUTCOMES.length],
      ...(i % 10 === 9 ? { mode: 'report_only' } : {}),
    })),
    default: 'allow',
  });
}

type Overrides = Omit<Partial<PolicyContext>, 'device' | 'user' | 'application'> & {
  device?: Partial<PolicyContext['device']>;
  user?: Partial<PolicyContext['user']>;
  application?: Partial<PolicyContext['application']>;
};

/** A desktop BYOD sign-in of alice from a Dutch address, to the portal, changed where given. */
function context({ device, user, application, ...rest }: Overrides = {}): PolicyContext {
  return {
    ip: '145.97.39.155',
    country: 'NL',
    location: { lat: 52.0588, lon: 4.4948 },
    now: MONDAY_NOON_AMSTERDAM,
    failures: [],
    ...rest,
    device: { type: 'desktop', os: 'Windows', managed: false, known: false, ...device },
    user: { id: 'u-alice', username: 'alice', groups: ['staff'], ...user },
    application: { id: 'portal', protocol: 'oidc', ...application },
  };
}

/** Eight attempts that take different paths: networks, IPv4 and IPv6, countries, devices, travel, failures. */
export function contexts(): PolicyContext[] {
  return [
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
}

type MachineCpu = () => { busy: number; total: number };

/**
 * Policy decisions in this process: a policy of 50 rules parsed and compiled once, then `decide` over eight contexts
 * in turn, a second later each time (the clock moves as under load), for `durationMs` after a warm-up. The trace is
 * read on one decision in 1024 only: it is worded lazily and enforcement does not read it.
 */
export function policyDecisions(durationMs: number, machineCpuMs: MachineCpu): PolicyResult {
  const policy = compilePolicy(parsePolicy(policyText(50), 'bench policies.yaml'));
  const attempts = contexts();
  const outcomes = { allow: 0, mfa: 0, deny: 0 };
  let i = 0;
  let traces = 0;
  const run = (ms: number, count: boolean) => {
    const deadline = performance.now() + ms;
    let n = 0;
    while (performance.now() < deadline) {
      for (let b = 0; b < BATCH; b++, i++, n++) {
        const decision = decide(policy, {
          ...attempts[i % attempts.length]!,
          now: MONDAY_NOON_AMSTERDAM + i * 1000,
        });
        if (count) outcomes[decision.outcome.kind]++;
        if (i % TRACE_EVERY === 0) {
          // worded now: a trace entry per rule
          if (decision.trace.length !== policy.rules.length) throw new Error('policy: a trace is incomplete');
          traces++;
        }
      }
    }
    return n;
  };
  run(WARMUP_MS, false);
  traces = 0;
  const machineBefore = machineCpuMs();
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const decisions = run(durationMs, true);
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  const machineAfter = machineCpuMs();
  const ownMs = (cpu.user + cpu.system) / 1000;
  return {
    rules: policy.rules.length,
    contexts: attempts.length,
    decisions,
    elapsedMs,
    rate: (decisions * 1000) / elapsedMs,
    usPerDecision: (elapsedMs * 1000) / decisions,
    cpuUsPerDecision: (ownMs * 1000) / decisions,
    traces,
    outcomes,
    otherCpuShare:
      Math.max(0, machineAfter.busy - machineBefore.busy - ownMs) /
      (machineAfter.total - machineBefore.total),
  };
}
