import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { KeyValueStore } from '../../src/store/kv.js';
import { claimLease, Lease, releaseLease, type LeaseRecord } from '../../src/store/lease.js';
import { openTestKeyValueStore } from '../helpers/backend.js';
import { tempDir } from '../helpers/poort.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('claimLease and releaseLease, the decisions', () => {
  it('takes a free lease, renews its own, leaves another holder’s alone', () => {
    expect(claimLease(undefined, 'a', 1000, 15)).toEqual({
      value: { holder: 'a', since: 1000 },
      ttlSeconds: 15,
      result: true,
    });
    // renewing keeps when it was taken and sets the TTL afresh
    expect(claimLease({ holder: 'a', since: 1000 }, 'a', 9000, 15)).toEqual({
      value: { holder: 'a', since: 1000 },
      ttlSeconds: 15,
      result: true,
    });
    // another holder's lease: unchanged, and its expiry kept (no ttlSeconds)
    expect(claimLease({ holder: 'b', since: 5 }, 'a', 9000, 15)).toEqual({
      value: { holder: 'b', since: 5 },
      result: false,
    });
  });

  it('takes over a record that is not a lease (a hand-written value, perhaps without a TTL)', () => {
    for (const junk of ['x', 42, null, {}, { holder: 7 }] as unknown as LeaseRecord[]) {
      expect(claimLease(junk, 'a', 1000, 15)).toEqual({
        value: { holder: 'a', since: 1000 },
        ttlSeconds: 15,
        result: true,
      });
    }
  });

  it('gives up only its own lease', () => {
    expect(releaseLease({ holder: 'a', since: 1 }, 'a')).toEqual({ value: undefined, result: true });
    expect(releaseLease({ holder: 'b', since: 1 }, 'a')).toEqual({
      value: { holder: 'b', since: 1 },
      result: false,
    });
    expect(releaseLease(undefined, 'a')).toEqual({ value: undefined, result: false });
  });
});

describe('Lease on the shared key-value store', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function store(): Promise<KeyValueStore> {
    const dir = tempDir('poort-lease-');
    const kv = await openTestKeyValueStore(dir);
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    cleanup.push(() => kv.close());
    return kv;
  }

  it('is held by one node at a time; released, the other takes it at once', async () => {
    const kv = await store();
    const first = new Lease(kv, 'lease:test', { holder: 'a' });
    const second = new Lease(kv, 'lease:test', { holder: 'b' });
    // asked at the same moment: exactly one gets it (which one is the store's order)
    const got = await Promise.all([first.hold(), second.hold()]);
    expect(got.filter(Boolean)).toHaveLength(1);
    const [a, b] = got[0] ? [first, second] : [second, first];
    expect(await b.hold()).toBe(false);
    expect(a.held()).toBe(true);
    expect(b.held()).toBe(false);
    await a.release();
    expect(a.held()).toBe(false);
    expect(await b.hold()).toBe(true);
    expect(await a.hold()).toBe(false);
    // releasing a lease one does not hold leaves it with its holder
    const c = new Lease(kv, 'lease:test', { holder: 'c' });
    await c.release();
    expect(await b.hold()).toBe(true);
    // and a process that gave it up (stopping) does not take it again, even when it is free
    await b.release();
    expect(await a.hold()).toBe(false);
    expect(await c.hold()).toBe(false);
    expect(await new Lease(kv, 'lease:test', { holder: 'd' }).hold()).toBe(true);
  });

  it('passes to another node when its holder stops renewing it (a node that died)', async () => {
    const kv = await store();
    const a = new Lease(kv, 'lease:died', { holder: 'a', ttlSeconds: 1 });
    const b = new Lease(kv, 'lease:died', { holder: 'b', ttlSeconds: 1 });
    expect(await a.hold()).toBe(true);
    expect(await b.hold()).toBe(false);
    await sleep(1200);
    // a counts it as its own no longer than the TTL after it asked, so both never count it theirs at once
    expect(a.held()).toBe(false);
    expect(await b.hold()).toBe(true);
    expect(await a.hold()).toBe(false);
  });

  it('is renewed by its holder before it runs out, and only once a third of its time has passed', async () => {
    const kv = await store();
    let now = 1_000_000;
    let asked = 0;
    const counting: Pick<KeyValueStore, 'update'> = {
      update: (key, fn) => {
        asked += 1;
        return kv.update(key, fn);
      },
    };
    const a = new Lease(counting, 'lease:renew', { holder: 'a', ttlSeconds: 1, clock: () => now });
    const b = new Lease(kv, 'lease:renew', { holder: 'b', ttlSeconds: 1 });
    expect(await a.hold()).toBe(true);
    now += 200;
    expect(await a.hold()).toBe(true);
    expect(asked).toBe(1); // within the first third: no round trip
    // Renewed every 400 ms of real time for 1.6 s: the store's TTL (1 s) never runs out, b never gets it.
    for (let i = 0; i < 4; i++) {
      await sleep(400);
      now += 400;
      expect(await a.hold()).toBe(true);
      expect(await b.hold()).toBe(false);
    }
    expect(asked).toBe(5);
  });

  it('counts as not held while the store cannot be reached', async () => {
    const broken: Pick<KeyValueStore, 'update'> = {
      update: () => Promise.reject(new Error('connection refused')),
    };
    const a = new Lease(broken, 'lease:broken', { holder: 'a' });
    expect(await a.hold()).toBe(false);
    expect(a.held()).toBe(false);
  });
});
