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
    otherCpuShare:
      Math.max(0, machineAfter.busy - machineBefore.busy - ownMs) /
      (machineAfter.total - machineBefore.total),
  };
}
