import { describe, expect, it } from 'vitest';
import { warmUp, WARM_SETTLED_SHARE, type Workload } from '../../bench/load.js';

/**
 * `npm run bench` warms a server up until its CPU per operation stops falling. A fake server here: every operation
 * adds `cost()` ms to the main thread's CPU, and the test decides how that cost develops.
 */
function fakeServer(cost: (op: number) => number) {
  let main = 0;
  let ops = 0;
  const workload: Workload = {
    name: 'fake',
    concurrency: 1,
    async op() {
      main += cost(ops++);
      await new Promise((resolve) => setTimeout(resolve, 1));
    },
  };
  return { workload, serverCpuMs: () => ({ user: main, system: 0, main }), ops: () => ops };
}

const WINDOW = { windowMs: 40, minMs: 0 };

describe('warmUp', () => {
  it('stops after four windows when the cost per operation is flat from the start', async () => {
    const server = fakeServer(() => 1);
    const result = await warmUp(server.workload, {
      ...WINDOW,
      maxMs: 10_000,
      serverCpuMs: server.serverCpuMs,
    });
    expect(result.settled).toBe(true);
    expect(result.mainMsPerOp).toHaveLength(4);
    expect(result.mainMsPerOp.every((ms) => ms === 1)).toBe(true);
    expect(result.ops).toBe(server.ops());
  });

  it('goes on while the cost keeps falling, and stops once it levels off', async () => {
    // halves every 40 operations (a few windows), down to a floor
    const server = fakeServer((op) => Math.max(1, 64 / 2 ** Math.floor(op / 40)));
    const result = await warmUp(server.workload, {
      ...WINDOW,
      maxMs: 20_000,
      serverCpuMs: server.serverCpuMs,
    });
    expect(result.settled).toBe(true);
    expect(result.mainMsPerOp.length).toBeGreaterThan(4);
    const n = result.mainMsPerOp.length;
    const last = (result.mainMsPerOp[n - 1]! + result.mainMsPerOp[n - 2]!) / 2;
    const before = (result.mainMsPerOp[n - 3]! + result.mainMsPerOp[n - 4]!) / 2;
    expect(last).toBeGreaterThanOrEqual(before * (1 - WARM_SETTLED_SHARE));
    expect(result.mainMsPerOp[n - 1]).toBe(1);
  });

  it('stops at its limit, unsettled, when the cost never stops falling', async () => {
    const server = fakeServer((op) => 1000 / (op + 1));
    const result = await warmUp(server.workload, { ...WINDOW, maxMs: 300, serverCpuMs: server.serverCpuMs });
    expect(result.settled).toBe(false);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(300);
  });

  it('waits at least minMs, and stops at the first error with it', async () => {
    const flat = fakeServer(() => 1);
    const long = await warmUp(flat.workload, {
      windowMs: 40,
      minMs: 400,
      maxMs: 10_000,
      serverCpuMs: flat.serverCpuMs,
    });
    expect(long.elapsedMs).toBeGreaterThanOrEqual(400);
    const failing: Workload = {
      name: 'failing',
      concurrency: 1,
      op: () => Promise.reject(new Error('500 from /token')),
    };
    const result = await warmUp(failing, { ...WINDOW, maxMs: 10_000, serverCpuMs: flat.serverCpuMs });
    expect(result.errors).toBe(1);
    expect(result.firstError).toBe('warm-up: 500 from /token');
  });
});
