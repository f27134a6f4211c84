import { performance } from 'node:perf_hooks';
import type { Argon2Params } from '../../src/directory/password-hash.js';
import { PasswordHasher } from '../../src/directory/password-hash.js';

export interface Argon2Result {
  params: Argon2Params;
  verifies: number;
  elapsedMs: number;
  /** verifies per second, one at a time: one core's ceiling for password sign-ins */
  rate: number;
  /** CPU of this process per verify (the argon2 work runs on a libuv worker thread; process CPU counts it) */
  cpuMsPerVerify: number;
  p50Ms: number;
  /** CPU the rest of the machine used meanwhile, as a share of all cores */
  otherCpuShare: number;
  /** every verify's wall time, sorted: for merging windows */
  timesMs: number[];
  /** this process's CPU over the window */
  cpuMs: number;
}

/** Hashes once, then verifies sequentially for `durationMs` with Poort's own hasher at the configured parameters. */
export async function argon2Ceiling(
  params: Argon2Params,
  durationMs: number,
  machineCpuMs: () => { busy: number; total: number },
): Promise<Argon2Result> {
  const hasher = new PasswordHasher(params);
  const password = 'bench correct horse battery staple';
  const hash = await hasher.hash(password);
  if (!(await hasher.verify(hash, password))) throw new Error('argon2: the verify of a fresh hash failed');
  const times: number[] = [];
  const machineBefore = machineCpuMs();
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const deadline = start + durationMs;
  while (performance.now() < deadline) {
    const t = performance.now();
    if (!(await hasher.verify(hash, password))) throw new Error('argon2: verify failed');
    times.push(performance.now() - t);
  }
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  const machineAfter = machineCpuMs();
  const ownMs = (cpu.user + cpu.system) / 1000;
  times.sort((a, b) => a - b);
  return {
    params,
    verifies: times.length,
    elapsedMs,
    rate: (times.length * 1000) / elapsedMs,
    cpuMsPerVerify: ownMs / times.length,
    p50Ms: times[Math.floor(times.length / 2)]!,
    timesMs: times,
    cpuMs: ownMs,
    otherCpuShare:
      Math.max(0, machineAfter.busy - machineBefore.busy - ownMs) /
      (machineAfter.total - machineBefore.total),
  };
}

/** Several windows of verifies as one: sums, the rate over their total time, the median of them all. */
export function mergeArgon2Results(results: readonly Argon2Result[]): Argon2Result {
  const sum = (f: (r: Argon2Result) => number) => results.reduce((acc, r) => acc + f(r), 0);
  const verifies = sum((r) => r.verifies);
  const elapsedMs = sum((r) => r.elapsedMs);
  const cpuMs = sum((r) => r.cpuMs);
  const timesMs = results.flatMap((r) => r.timesMs).sort((a, b) => a - b);
  return {
    params: results[0]!.params,
    verifies,
    elapsedMs,
    rate: (verifies * 1000) / elapsedMs,
    cpuMsPerVerify: cpuMs / verifies,
    p50Ms: timesMs[Math.floor(timesMs.length / 2)]!,
    // weighted by time: each window's share of the machine over its own length
    otherCpuShare: sum((r) => r.otherCpuShare * r.elapsedMs) / elapsedMs,
    timesMs,
    cpuMs,
  };
}
