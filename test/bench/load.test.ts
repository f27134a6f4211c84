import os from 'node:os';
import pg from 'pg';
import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { runLoad, warmUp, WARM_SETTLED_SHARE, type Workload } from '../../bench/load.js';
import { storeServersCpuMs } from '../../bench/server.js';
import { POSTGRES_ADMIN_URL } from '../helpers/postgres.js';
import { redisUrl, requireRedis } from '../helpers/redis.js';

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

describe('the CPU of the store servers (Redis + PostgreSQL backends)', () => {
  it("counts each window's store CPU per operation apart from the server's, and not as other load", async () => {
    // every operation: 1 ms on the server's main thread, 3 ms in Redis or PostgreSQL; the machine saw both
    const server = fakeServer(() => 1);
    let store = 0;
    const workload: Workload = {
      ...server.workload,
      op: async (vu) => {
        store += 3;
        await server.workload.op(vu);
      },
    };
    const machine = () => {
      const busy = server.serverCpuMs().main + store;
      return { busy, total: 100 * busy + 1000 };
    };
    const options = { warmupMs: 0, durationMs: 60, serverCpuMs: server.serverCpuMs, machineCpuMs: machine };

    const without = await runLoad(workload, options);
    expect(without.storeCpuMs).toBeNaN();
    const withStore = await runLoad(workload, { ...options, storeCpuMs: () => store });
    expect(withStore.storeCpuMs / withStore.ops).toBe(3);
    expect(withStore.serverCpuMs / withStore.ops).toBe(1);
    // the store's CPU is no longer taken for other processes' (the load generator's own CPU is real: at most that)
    expect(withStore.otherCpuShare).toBeLessThan(without.otherCpuShare);
    expect(withStore.otherCpuShare).toBe(0);
  });

  it("reads the Redis server's CPU from /proc, as Redis itself counts it", async () => {
    await requireRedis();
    const redis = createClient({ url: redisUrl });
    await redis.connect();
    /** Redis's own count of its CPU (INFO cpu: user + system of the whole process), in ms */
    const redisSays = async () => {
      const info = await redis.info('cpu');
      const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1]);
      return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
    };
    try {
      const before = storeServersCpuMs();
      const redisBefore = await redisSays();
      const start = Date.now();
      // pipelined pings until Redis has used 150 ms, however fast this machine is (40 µs to 1 µs a ping seen)
      while ((await redisSays()) - redisBefore < 150 && Date.now() - start < 20_000)
        await Promise.all(Array.from({ length: 2000 }, () => redis.ping()));
      const redisUsed = (await redisSays()) - redisBefore;
      const used = storeServersCpuMs() - before;
      expect(redisUsed).toBeGreaterThanOrEqual(150);
      // /proc counts in clock ticks (10 ms); PostgreSQL, which other tests use meanwhile, only adds to it
      expect(used).toBeGreaterThanOrEqual(redisUsed - 30);
      expect(used).toBeLessThanOrEqual((Date.now() - start) * os.availableParallelism() + 30);
    } finally {
      await redis.quit();
    }
  });

  it("keeps a PostgreSQL backend's CPU after its connection closed", async () => {
    const before = storeServersCpuMs();
    const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await client.connect();
    const start = Date.now();
    // CPU-bound queries for a second of wall time: the backend's CPU, however fast the machine and however busy
    while (Date.now() - start < 1000) await client.query('SELECT sum(i) FROM generate_series(1, 20000) AS i');
    await client.end();
    // the backend has gone: its CPU is now the postmaster's, counted with its ended children
    await new Promise((resolve) => setTimeout(resolve, 300));
    const used = storeServersCpuMs() - before;
    expect(used).toBeGreaterThanOrEqual(100);
    expect(used).toBeLessThanOrEqual((Date.now() - start) * os.availableParallelism());
  });
});
