import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AuditEventInput } from '../../src/audit/event.js';
import { correlationId } from '../../src/audit/event.js';
import type { VerifyReport } from '../../src/audit/log.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { openServices } from '../../src/server/services.js';
import { percentile } from '../load.js';

export interface AppendPhase {
  /** appends awaited one at a time (1), or in Promise.all batches of this many */
  appenders: number;
  appends: number;
  elapsedMs: number;
  /** appends per second */
  rate: number;
  /** CPU of this process per append (process.cpuUsage: all threads), in microseconds */
  cpuUsPerAppend: number;
  /** wall time of one await (one append, or one batch), in microseconds */
  p50Us: number;
  p99Us: number;
  /** CPU of the Redis and PostgreSQL servers per append, in microseconds; NaN where not measured (embedded) */
  storeCpuUsPerAppend: number;
  /** CPU the rest of the machine used meanwhile (the store servers left out where measured), as a share of all cores */
  otherCpuShare: number;
}

export interface AuditResult {
  sequential: AppendPhase;
  concurrent: AppendPhase;
  /** appends in all (the warm-up too): what verify must find */
  appended: number;
  verify: VerifyReport;
  verifyMs: number;
}

const WARMUP_MS = 500;
const CONCURRENT_APPENDERS = 8;
/** distinct events to cycle through: built beforehand, so only the append is measured */
const POOL = 1024;

const USER_AGENTS = [
  {
    user_agent:
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
    device: { type: 'desktop', os: 'Windows', browser: 'Chrome' },
  },
  {
    user_agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0',
    device: { type: 'desktop', os: 'Mac OS', browser: 'Firefox' },
  },
  {
    user_agent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    device: { type: 'mobile', os: 'iOS', browser: 'Mobile Safari' },
  },
];
const COUNTRIES = ['NL', 'BE', 'DE', null] as const;

/** What the password step records for a successful sign-in, varied over users, addresses, devices and applications. */
function signInEvents(): AuditEventInput[] {
  const users = Array.from({ length: 64 }, (_, i) => ({ id: crypto.randomUUID(), username: `user${i}` }));
  return Array.from({ length: POOL }, (_, i): AuditEventInput => {
    const user = users[i % users.length]!;
    const agent = USER_AGENTS[i % USER_AGENTS.length]!;
    return {
      action: 'signin.password',
      outcome: 'success',
      actor: { type: 'user', id: user.id, name: user.username },
      subject: { id: user.id, username: user.username, known: true },
      application: { id: i % 5 === 0 ? 'intranet' : 'bench-app', protocol: 'oidc' },
      source: {
        ip:
          i % 7 === 0
            ? `2001:db8:${(i % 97).toString(16)}::${(i % 251).toString(16)}`
            : `198.51.100.${i % 251}`,
        country: COUNTRIES[i % COUNTRIES.length]!,
        user_agent: agent.user_agent,
        device: agent.device,
      },
      correlation: correlationId(`interaction-${i}`),
      details: { amr: ['pwd'], acr: 'urn:poort:acr:password', rehashed: false, attempt: 1 + (i % 3) },
    };
  });
}

/** What a phase reads around itself: the machine's CPU, and the store servers' (Redis, PostgreSQL) where they work. */
export interface Meters {
  machineCpuMs: () => { busy: number; total: number };
  storeCpuMs?: () => number;
}

/**
 * Measures one phase: `run` appends until `deadline`, pushing the wall time of each await (an append, or a batch)
 * into `times`, and returns how many events it appended; this process's CPU and the rest of the machine's are read
 * around it.
 */
async function measuredPhase(
  appenders: number,
  durationMs: number,
  meters: Meters,
  run: (deadline: number, times: number[]) => Promise<number>,
): Promise<AppendPhase> {
  const times: number[] = [];
  const machineBefore = meters.machineCpuMs();
  const storeBefore = meters.storeCpuMs?.() ?? NaN;
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const appends = await run(start + durationMs, times);
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  const storeMs = (meters.storeCpuMs?.() ?? NaN) - storeBefore;
  const machineAfter = meters.machineCpuMs();
  const ownMs = (cpu.user + cpu.system) / 1000;
  times.sort((a, b) => a - b);
  return {
    appenders,
    appends,
    elapsedMs,
    rate: (appends * 1000) / elapsedMs,
    cpuUsPerAppend: (ownMs * 1000) / appends,
    p50Us: percentile(times, 50) * 1000,
    p99Us: percentile(times, 99) * 1000,
    storeCpuUsPerAppend: (storeMs * 1000) / appends,
    otherCpuShare:
      Math.max(0, machineAfter.busy - machineBefore.busy - ownMs - (Number.isFinite(storeMs) ? storeMs : 0)) /
      (machineAfter.total - machineBefore.total),
  };
}

/** One store: one appender awaiting each append, or `appenders` appends at a time in Promise.all batches. */
function appendPhase(
  append: (input: AuditEventInput) => Promise<unknown>,
  events: readonly AuditEventInput[],
  appenders: number,
  durationMs: number,
  meters: Meters,
  counter: { next: number },
): Promise<AppendPhase> {
  return measuredPhase(appenders, durationMs, meters, async (deadline, times) => {
    let appends = 0;
    const batch = new Array<Promise<unknown>>(appenders);
    while (performance.now() < deadline) {
      const t = performance.now();
      if (appenders === 1) await append(events[counter.next++ % events.length]!);
      else {
        for (let i = 0; i < appenders; i++) batch[i] = append(events[counter.next++ % events.length]!);
        await Promise.all(batch);
      }
      times.push(performance.now() - t);
      appends += appenders;
    }
    return appends;
  });
}

/**
 * Audit appends on the embedded store, in this process (no server): the services opened on a fresh data dir, then
 * `signin.password` events appended as fast as they go for `durationMs`, first awaited one by one, then in
 * Promise.all batches of 8; finally the whole chain is verified.
 */
export async function auditAppends(
  loaded: LoadedConfig,
  durationMs: number,
  meters: Meters,
): Promise<AuditResult> {
  const services = await openServices(loaded);
  try {
    const audit = services.audit;
    const append = (input: AuditEventInput) => audit.append(input);
    const events = signInEvents();
    const counter = { next: 0 };
    await appendPhase(append, events, 1, WARMUP_MS, meters, counter);
    const sequential = await appendPhase(append, events, 1, durationMs, meters, counter);
    const concurrent = await appendPhase(append, events, CONCURRENT_APPENDERS, durationMs, meters, counter);
    const t = performance.now();
    const verify = await audit.verify();
    const verifyMs = performance.now() - t;
    return { sequential, concurrent, appended: counter.next, verify, verifyMs };
  } finally {
    await services.close();
  }
}

/** One appender per node, each awaiting its appends one at a time, all at once: the measured window covers them all. */
function nodesPhase(
  appends: ReadonlyArray<(input: AuditEventInput) => Promise<unknown>>,
  events: readonly AuditEventInput[],
  durationMs: number,
  meters: Meters,
  counter: { next: number },
): Promise<AppendPhase> {
  return measuredPhase(appends.length, durationMs, meters, async (deadline, times) => {
    await Promise.all(
      appends.map(async (append) => {
        while (performance.now() < deadline) {
          const t = performance.now();
          await append(events[counter.next++ % events.length]!);
          times.push(performance.now() - t);
        }
      }),
    );
    return times.length;
  });
}

/**
 * Audit appends from several nodes at once: the services opened `nodes` times on the same configuration (each with a
 * connection pool of its own, as separate nodes have), each appending one event at a time, all at the same time;
 * then the whole chain is verified. On PostgreSQL the appends of the nodes meet at the chain's advisory lock.
 */
export async function auditAppendsFromNodes(
  loaded: LoadedConfig,
  nodes: number,
  durationMs: number,
  meters: Meters,
): Promise<{ phase: AppendPhase; appended: number; verify: VerifyReport; verifyMs: number }> {
  const opened = await Promise.all(Array.from({ length: nodes }, () => openServices(loaded)));
  try {
    const appends = opened.map((s) => (input: AuditEventInput) => s.audit.append(input));
    const events = signInEvents();
    const counter = { next: 0 };
    await nodesPhase(appends, events, WARMUP_MS, meters, counter);
    const phase = await nodesPhase(appends, events, durationMs, meters, counter);
    const t = performance.now();
    const verify = await opened[0]!.audit.verify();
    return { phase, appended: counter.next, verify, verifyMs: performance.now() - t };
  } finally {
    await Promise.all(opened.map((s) => s.close()));
  }
}
