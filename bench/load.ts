import { performance } from 'node:perf_hooks';

/** A closed-loop workload: `concurrency` virtual users, each running `op` back to back. */
export interface Workload {
  name: string;
  concurrency: number;
  /** one operation by virtual user `vu` (0-based); throws on an unexpected response */
  op(vu: number): Promise<void>;
}

export interface LoadResult {
  ops: number;
  errors: number;
  firstError?: string;
  elapsedMs: number;
  /** operations per second over the measured window */
  rate: number;
  p50Ms: number;
  p99Ms: number;
  /** server CPU (user + system) over the measured window */
  serverCpuMs: number;
  /** the part of it spent in the kernel (socket and file I/O) */
  serverSystemMs: number;
  /** the part of it on the main thread; the rest is libuv's thread pool (argon2, WebCrypto) and V8's helpers (GC) */
  serverMainMs: number;
  /**
   * CPU of the Redis and PostgreSQL servers over the measured window (storeServersCpuMs), NaN where not measured (the
   * embedded store works inside the server: its CPU is the server's)
   */
  storeCpuMs: number;
  /** this process's CPU over the measured window: the load generator's share of the machine */
  clientCpuMs: number;
  /** CPU the rest of the machine used meanwhile (other processes), as a share of all cores: noise in the wall-clock figures */
  otherCpuShare: number;
  /** every operation's wall time, sorted: for merging windows */
  latenciesMs: number[];
}

interface PhaseResult {
  ops: number;
  errors: number;
  firstError?: string;
  latencies: number[];
}

async function phase(workload: Workload, durationMs: number): Promise<PhaseResult> {
  const deadline = performance.now() + durationMs;
  const out: PhaseResult = { ops: 0, errors: 0, latencies: [] };
  const vu = async (id: number) => {
    // Bounded: stops at the deadline, or at its first error (a broken flow would otherwise only repeat it).
    while (performance.now() < deadline) {
      const start = performance.now();
      try {
        await workload.op(id);
      } catch (err) {
        out.errors++;
        out.firstError ??= err instanceof Error ? err.message : String(err);
        return;
      }
      out.latencies.push(performance.now() - start);
      out.ops++;
    }
  };
  await Promise.all(Array.from({ length: workload.concurrency }, (_, i) => vu(i)));
  return out;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/**
 * A warm-up phase, then the measured one. Between phases every virtual user has finished its operation, so the
 * server is idle when its CPU is read: the CPU of the window belongs to exactly the operations counted in it.
 */
export async function runLoad(
  workload: Workload,
  options: {
    warmupMs: number;
    durationMs: number;
    serverCpuMs: () => { user: number; system: number; main: number };
    machineCpuMs: () => { busy: number; total: number };
    /** CPU so far of the store servers the server talks to (Redis, PostgreSQL), in milliseconds */
    storeCpuMs?: () => number;
  },
): Promise<LoadResult> {
  const warm = await phase(workload, options.warmupMs);
  if (warm.errors > 0) {
    return {
      ops: 0,
      errors: warm.errors,
      firstError: `warm-up: ${warm.firstError}`,
      elapsedMs: 0,
      rate: 0,
      p50Ms: NaN,
      p99Ms: NaN,
      serverCpuMs: 0,
      serverSystemMs: 0,
      serverMainMs: 0,
      storeCpuMs: NaN,
      clientCpuMs: 0,
      otherCpuShare: NaN,
      latenciesMs: [],
    };
  }
  const serverBefore = options.serverCpuMs();
  const clientBefore = process.cpuUsage();
  const machineBefore = options.machineCpuMs();
  const storeBefore = options.storeCpuMs?.() ?? NaN;
  const start = performance.now();
  const measured = await phase(workload, options.durationMs);
  const elapsedMs = performance.now() - start;
  const client = process.cpuUsage(clientBefore);
  const serverAfter = options.serverCpuMs();
  const serverSystemMs = serverAfter.system - serverBefore.system;
  const serverCpuMs = serverAfter.user - serverBefore.user + serverSystemMs;
  const storeCpuMs = (options.storeCpuMs?.() ?? NaN) - storeBefore;
  const machineAfter = options.machineCpuMs();
  const clientCpuMs = (client.user + client.system) / 1000;
  const otherCpuMs =
    machineAfter.busy -
    machineBefore.busy -
    serverCpuMs -
    clientCpuMs -
    (Number.isFinite(storeCpuMs) ? storeCpuMs : 0);
  const sorted = measured.latencies.sort((a, b) => a - b);
  return {
    ops: measured.ops,
    errors: measured.errors,
    firstError: measured.firstError,
    elapsedMs,
    rate: (measured.ops * 1000) / elapsedMs,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    serverCpuMs,
    serverSystemMs,
    serverMainMs: serverAfter.main - serverBefore.main,
    storeCpuMs,
    clientCpuMs,
    otherCpuShare: Math.max(0, otherCpuMs) / (machineAfter.total - machineBefore.total),
    latenciesMs: sorted,
  };
}

/** How `warmUp` decides that the server has warmed up. */
export interface WarmUpOptions {
  /** length of one window */
  windowMs: number;
  /** at least this long (and at least four windows) */
  minMs: number;
  /** at most this long, settled or not */
  maxMs: number;
  serverCpuMs: () => { user: number; system: number; main: number };
}

export interface WarmUpResult {
  ops: number;
  errors: number;
  firstError?: string;
  elapsedMs: number;
  /** false: stopped at maxMs with the CPU per operation still falling */
  settled: boolean;
  /** the server's main-thread CPU per operation in each window, in ms */
  mainMsPerOp: number[];
}

/** Two windows in a row that are not this share cheaper than the two before: the server has warmed up. */
export const WARM_SETTLED_SHARE = 0.03;

/**
 * Runs the workload until the server has warmed up: V8 compiles a function with its optimising compiler only after
 * it has run a few hundred kilobytes of bytecode, which a handler run once per operation reaches only after
 * thousands of operations (a fresh server's sign-in costs twice its main-thread CPU of a minute later). Windows of
 * `windowMs` until the server's main-thread CPU per operation (not the thread pool's: argon2id is the same cold or
 * warm, and its noise would hide the trend) in the last two windows is no longer WARM_SETTLED_SHARE below that of
 * the two before, after `minMs`; at most `maxMs`.
 */
export async function warmUp(workload: Workload, options: WarmUpOptions): Promise<WarmUpResult> {
  const result: WarmUpResult = { ops: 0, errors: 0, elapsedMs: 0, settled: false, mainMsPerOp: [] };
  const start = performance.now();
  const pair = (i: number) => (result.mainMsPerOp[i]! + result.mainMsPerOp[i + 1]!) / 2;
  for (;;) {
    const before = options.serverCpuMs().main;
    const window = await phase(workload, options.windowMs);
    result.ops += window.ops;
    result.elapsedMs = performance.now() - start;
    if (window.errors > 0) {
      result.errors = window.errors;
      result.firstError = `warm-up: ${window.firstError}`;
      return result;
    }
    if (window.ops > 0) result.mainMsPerOp.push((options.serverCpuMs().main - before) / window.ops);
    const n = result.mainMsPerOp.length;
    if (
      n >= 4 &&
      result.elapsedMs >= options.minMs &&
      pair(n - 2) >= pair(n - 4) * (1 - WARM_SETTLED_SHARE)
    ) {
      result.settled = true;
      return result;
    }
    if (result.elapsedMs >= options.maxMs) return result;
  }
}

/** Several measured windows of one workload as one: sums, the rate over their total time, percentiles of them all. */
export function mergeLoadResults(results: readonly LoadResult[]): LoadResult {
  const sum = (f: (r: LoadResult) => number) => results.reduce((acc, r) => acc + f(r), 0);
  const elapsedMs = sum((r) => r.elapsedMs);
  const ops = sum((r) => r.ops);
  const latenciesMs = results.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  return {
    ops,
    errors: sum((r) => r.errors),
    firstError: results.find((r) => r.firstError !== undefined)?.firstError,
    elapsedMs,
    rate: elapsedMs > 0 ? (ops * 1000) / elapsedMs : 0,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
    serverCpuMs: sum((r) => r.serverCpuMs),
    serverSystemMs: sum((r) => r.serverSystemMs),
    serverMainMs: sum((r) => r.serverMainMs),
    storeCpuMs: sum((r) => r.storeCpuMs),
    clientCpuMs: sum((r) => r.clientCpuMs),
    // weighted by time: each window's share of the machine over its own length
    otherCpuShare:
      elapsedMs > 0 ? sum((r) => (r.elapsedMs > 0 ? r.otherCpuShare * r.elapsedMs : 0)) / elapsedMs : NaN,
    latenciesMs,
  };
}
