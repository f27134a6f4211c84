import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as oidc from 'openid-client';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisKeyValueStore, reconnectDelay, redactUrl } from '../../src/store/kv-redis.js';
import { loadConfig } from '../../src/config/load.js';
import { FAST_ARGON2, relyingParty } from '../helpers/oidc.js';
import { freePort, startPoort, tempDir } from '../helpers/poort.js';
import { deleteKeysUnder, keysUnder, rawPttl, redisUrl, requireRedis, testPrefix } from '../helpers/redis.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` on a Redis connection of its own, beside the store: to look at or plant keys as they are stored. */
const rawClient = () => createClient({ url: redisUrl });
async function raw<T>(fn: (client: ReturnType<typeof rawClient>) => Promise<T>): Promise<T> {
  const client = rawClient();
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

// What every key-value store promises is checked in kv-contract.test.ts; these are the Redis store's own ways:
// keys under a prefix, Redis's own expiry, WATCH conflicts, connections.
describe('the Redis key-value store', () => {
  const runPrefix = testPrefix();
  let testNo = 0;
  let prefix: string;
  let kv: RedisKeyValueStore;
  const open = (p = prefix) => RedisKeyValueStore.connect(redisUrl, { prefix: p });

  beforeAll(requireRedis);
  beforeEach(async () => {
    prefix = `${runPrefix}${++testNo}:`;
    kv = await open();
  });
  afterEach(async () => {
    await kv.close();
  });
  afterAll(async () => {
    await deleteKeysUnder(runPrefix);
    expect(await keysUnder(runPrefix)).toEqual([]);
  });

  describe('values with a time to live', () => {
    it('forgets a value when its TTL has passed, and keeps one without TTL', async () => {
      // Generous times: the machine may be busy, and Redis expires in real time.
      await kv.set('short', 1, 1.5);
      await kv.set('forever', 2);
      expect(await kv.get('short')).toBe(1);
      const left = await rawPttl(`${prefix}kv:short`);
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(1_500);
      await sleep(1_600);
      expect(await kv.get('short')).toBeUndefined();
      expect(await kv.get('forever')).toBe(2);
      expect(await rawPttl(`${prefix}kv:forever`)).toBe(-1);
    });

    it('treats a TTL of zero as already expired', async () => {
      await kv.set('k', 'v');
      await kv.set('k', 'gone', 0);
      expect(await kv.get('k')).toBeUndefined();
    });

    it('keeps its data under its key prefix, apart from other prefixes', async () => {
      await kv.set('a', 1);
      await kv.indexAdd('grant:g', 'a');
      expect((await keysUnder(prefix)).sort()).toEqual([`${prefix}kv:a`, `${prefix}zidx:grant:g`]);
      const other = await open(`${prefix}other:`);
      try {
        expect(await other.get('a')).toBeUndefined();
      } finally {
        await other.close();
      }
    });
  });

  describe('update', () => {
    it('keeps the current expiry unless fn gives a new TTL (KEEPTTL)', async () => {
      await kv.set('n', 0, 10);
      await kv.update<number, void>('n', (c) => ({ value: c! + 1, result: undefined }));
      const kept = await rawPttl(`${prefix}kv:n`);
      expect(kept).toBeGreaterThan(9_000);
      expect(kept).toBeLessThanOrEqual(10_000);
      expect(await kv.get('n')).toBe(1);
      await kv.update<number, void>('n', (c) => ({ value: c! + 1, ttlSeconds: 60, result: undefined }));
      expect(await rawPttl(`${prefix}kv:n`)).toBeGreaterThan(59_000);
      expect(await kv.get('n')).toBe(2);
      await kv.update<number, void>('n', (c) => ({ value: c! + 1, ttlSeconds: 0.1, result: undefined }));
      await sleep(200);
      expect(await kv.get('n')).toBeUndefined();
    });

    it('stores a new value without expiry when fn gives no TTL', async () => {
      await kv.update<number, void>('fresh', () => ({ value: 1, result: undefined }));
      expect(await kv.get('fresh')).toBe(1);
      expect(await rawPttl(`${prefix}kv:fresh`)).toBe(-1);
    });

    it('gives up after too many lost races', async () => {
      const store = await RedisKeyValueStore.connect(redisUrl, { prefix, maxUpdateAttempts: 3 });
      try {
        let n = 0;
        await expect(
          store.update<number, void>('hot', () => {
            // Another client (redis-cli, run synchronously) changes the key after every read: every EXEC fails.
            execFileSync('redis-cli', ['-u', redisUrl, 'SET', `${prefix}kv:hot`, String(++n)]);
            return { value: 0, result: undefined };
          }),
        ).rejects.toThrow(/lost 3 races/);
        expect(n).toBe(3);
        expect(await store.get('hot')).toBe(3);
      } finally {
        await store.close();
      }
    });
  });

  describe('indexes', () => {
    it('forgets the index itself once deleted', async () => {
      await kv.indexAdd('grant:g', 'token:1');
      await kv.deleteIndexed('grant:g');
      await kv.set('token:1', 'reissued');
      await kv.deleteIndexed('grant:g');
      expect(await kv.get('token:1')).toBe('reissued');
      expect(await rawPttl(`${prefix}zidx:grant:g`)).toBe(-2);
    });

    it('keeps an index as long as its longest-lived member', async () => {
      await kv.indexAdd('grant:g', 'token:1', 10);
      expect(await rawPttl(`${prefix}zidx:grant:g`)).toBeLessThanOrEqual(10_000);
      await kv.indexAdd('grant:g', 'token:1', 100);
      await kv.indexAdd('grant:g', 'token:2', 50);
      const ttl = await rawPttl(`${prefix}zidx:grant:g`);
      expect(ttl).toBeGreaterThan(99_000);
      expect(ttl).toBeLessThanOrEqual(100_000);
      await kv.set('token:1', 'still indexed');
      await kv.deleteIndexed('grant:g');
      expect(await kv.get('token:1')).toBeUndefined();
    });

    it('keeps an index without expiry once a member has none', async () => {
      await kv.indexAdd('grant:g', 'token:1', 10);
      await kv.indexAdd('grant:g', 'token:2');
      expect(await rawPttl(`${prefix}zidx:grant:g`)).toBe(-1);
      await kv.indexAdd('grant:g', 'token:3', 10);
      expect(await rawPttl(`${prefix}zidx:grant:g`)).toBe(-1);
    });

    it('drops each member once its own TTL has passed, however small the index', async () => {
      // sessions of an account that ended long ago, one that goes on
      for (let i = 0; i < 3; i++) {
        await kv.set(`session:${i}`, 'short', 0.2);
        await kv.indexAdd('account:a', `session:${i}`, 0.2);
      }
      await kv.set('session:live', 'live', 60);
      await kv.indexAdd('account:a', 'session:live', 60);
      await sleep(300);
      expect(await kv.indexedKeys('account:a')).toEqual(['session:live']);
      await kv.batch([
        { op: 'set', key: 'session:new', value: 'live', ttlSeconds: 60 },
        { op: 'indexAdd', index: 'account:a', member: 'session:new', ttlSeconds: 60 },
      ]);
      // the expired ones are gone from Redis too, not only filtered out: a long-lived grant whose refresh tokens
      // rotate every few minutes keeps only the live ones
      expect((await raw((c) => c.zRange(`${prefix}zidx:account:a`, 0, -1))).sort()).toEqual([
        `${prefix}kv:session:live`,
        `${prefix}kv:session:new`,
      ]);
      await kv.deleteIndexed('account:a');
      expect(await kv.get('session:live')).toBeUndefined();
      expect(await keysUnder(prefix)).toEqual([]);
    });

    it('keeps the later expiry of a member recorded twice', async () => {
      await kv.indexAdd('grant:g', 'token:1', 100);
      await kv.indexAdd('grant:g', 'token:1', 0.2);
      await kv.indexAdd('grant:g', 'token:2', 0.2);
      await sleep(300);
      expect(await kv.indexedKeys('grant:g')).toEqual(['token:1']);
      await kv.indexAdd('grant:g', 'token:1');
      expect(await rawPttl(`${prefix}zidx:grant:g`)).toBe(-1);
    });

    it('reads and revokes an index an earlier version keeps as a plain set, and leaves that set as it is', async () => {
      // a node still on the old version (a rolling upgrade) keeps adding to its set while this one adds to its own
      const legacy = `${prefix}idx:grant:g`;
      await raw(async (c) => {
        await c.set(`${prefix}kv:token:1`, '"a"', { expiration: { type: 'PX', value: 60_000 } });
        await c.set(`${prefix}kv:token:2`, '"b"');
        // token:3 has expired
        await c.sAdd(legacy, [`${prefix}kv:token:1`, `${prefix}kv:token:2`, `${prefix}kv:token:3`]);
        await c.pExpire(legacy, 60_000);
      });
      await kv.set('token:4', 'c', 60);
      await kv.indexAdd('grant:g', 'token:4', 60);
      expect(await raw((c) => c.type(legacy))).toBe('set');
      await raw((c) => c.sAdd(legacy, `${prefix}kv:token:5`));
      await raw((c) => c.set(`${prefix}kv:token:5`, '"d"'));
      expect((await kv.indexedKeys('grant:g')).sort()).toEqual(['token:1', 'token:2', 'token:4', 'token:5']);
      await kv.deleteIndexed('grant:g');
      expect(await keysUnder(prefix)).toEqual([]);
    });

    it('expires an index with its last member', async () => {
      await kv.set('token:1', 'a', 0.2);
      await kv.indexAdd('grant:g', 'token:1', 0.2);
      await sleep(300);
      expect(await keysUnder(prefix)).toEqual([]);
    });
  });

  describe('batch', () => {
    it('stores values and index entries together, each with its TTL', async () => {
      await kv.batch([
        { op: 'set', key: 'oidc:AccessToken:1', value: { grantId: 'g' }, ttlSeconds: 60 },
        { op: 'indexAdd', index: 'oidc:grant:g', member: 'oidc:AccessToken:1', ttlSeconds: 60 },
        { op: 'set', key: 'oidc:uid:u', value: '1' },
      ]);
      expect(await kv.get('oidc:AccessToken:1')).toEqual({ grantId: 'g' });
      expect(await kv.get('oidc:uid:u')).toBe('1');
      expect(await rawPttl(`${prefix}kv:oidc:AccessToken:1`)).toBeGreaterThan(59_000);
      expect(await rawPttl(`${prefix}kv:oidc:uid:u`)).toBe(-1);
      await kv.deleteIndexed('oidc:grant:g');
      expect(await kv.get('oidc:AccessToken:1')).toBeUndefined();
      expect(await kv.get('oidc:uid:u')).toBe('1');
    });
  });

  describe('connections', () => {
    it('answers ping while open and throws once closed', async () => {
      await expect(kv.ping()).resolves.toBeUndefined();
      const other = await open();
      await other.close();
      await expect(other.ping()).rejects.toThrow();
      await expect(other.close()).resolves.toBeUndefined();
    });

    it('refuses URLs that are not redis:// or rediss://', async () => {
      await expect(RedisKeyValueStore.connect('http://127.0.0.1:6379')).rejects.toThrow(/redis:\/\//);
    });

    it('gives up connecting after connectTimeoutMs, without showing the password', async () => {
      const started = Date.now();
      const err = await RedisKeyValueStore.connect('redis://user:s3cret@127.0.0.1:1', {
        connectTimeoutMs: 300,
      }).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(
        /cannot connect to Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:1/,
      );
      expect((err as Error).message).not.toContain('s3cret');
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it('signs in with an ACL user and password from the URL', async () => {
      const admin = createClient({ url: redisUrl });
      admin.on('error', () => {});
      await admin.connect();
      const user = `poort-test-${process.pid}-${testNo}`;
      try {
        await admin.sendCommand(['ACL', 'SETUSER', user, 'on', '>pw-for-test', `~${prefix}*`, '+@all']);
        const url = new URL(redisUrl);
        url.username = user;
        url.password = 'pw-for-test';
        const store = await RedisKeyValueStore.connect(url.toString(), { prefix });
        try {
          await store.set('x', 1);
          expect(await store.get('x')).toBe(1);
        } finally {
          await store.close();
        }
        url.password = 'wrong';
        await expect(
          RedisKeyValueStore.connect(url.toString(), { prefix, connectTimeoutMs: 300 }),
        ).rejects.toThrow(/cannot connect to Redis/);
      } finally {
        await admin.sendCommand(['ACL', 'DELUSER', user]);
        await admin.close();
      }
    });

    it('fails fast while Redis is away and recovers by itself when it returns', async () => {
      const port = await freePort();
      const start = async (): Promise<ChildProcess> => {
        const child = spawn(
          'redis-server',
          ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
          { stdio: 'ignore' },
        );
        for (let i = 0; i < 100; i++) {
          try {
            execFileSync('redis-cli', ['-p', String(port), 'PING'], { stdio: 'ignore' });
            return child;
          } catch {
            await sleep(50);
          }
        }
        child.kill('SIGKILL');
        throw new Error('the private redis-server did not start');
      };
      const stop = (child: ChildProcess) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        });
      let server = await start();
      const errors: Error[] = [];
      const store = await RedisKeyValueStore.connect(`redis://127.0.0.1:${port}`, {
        prefix,
        onError: (e) => errors.push(e),
      });
      try {
        await store.set('k', 1);
        await stop(server);
        const started = Date.now();
        await expect(store.ping()).rejects.toThrow();
        await expect(store.get('k')).rejects.toThrow();
        await expect(store.update('k', () => ({ value: 2, result: undefined }))).rejects.toThrow();
        expect(Date.now() - started).toBeLessThan(6_000);
        expect(errors.length).toBeGreaterThan(0);
        server = await start();
        const until = Date.now() + 10_000;
        for (;;) {
          try {
            await store.ping();
            break;
          } catch (err) {
            if (Date.now() > until) throw err;
            await sleep(100);
          }
        }
        await store.set('k', 3);
        await store.update<number, void>('k', (c) => ({ value: c! + 1, result: undefined }));
        expect(await store.get('k')).toBe(4);
      } finally {
        await store.close();
        await stop(server);
      }
    });

    it('backs off between reconnects, up to about 5 s', () => {
      expect(reconnectDelay(0)).toBeLessThanOrEqual(100);
      expect(reconnectDelay(3)).toBeGreaterThanOrEqual(400);
      expect(reconnectDelay(50)).toBeLessThanOrEqual(5_000);
      expect(reconnectDelay(50)).toBeGreaterThanOrEqual(2_500);
      expect(redactUrl('rediss://u:p@h:6380/2')).toBe('rediss://u:***@h:6380/2');
    });
  });

  describe('as the ephemeral store of Poort (storage.ephemeral: redis)', () => {
    it('takes the URL from POORT_REDIS_URL and keeps SQLite as the default', () => {
      const dir = tempDir('poort-kv-redis-');
      try {
        const file = path.join(dir, 'poort.yaml');
        fs.writeFileSync(file, 'storage: { ephemeral: redis }\n');
        const { config } = loadConfig({
          file,
          env: { POORT_REDIS_URL: 'rediss://u:p@redis.example:6380/1' },
        });
        expect(config.storage).toMatchObject({
          ephemeral: 'redis',
          redis_url: 'rediss://u:p@redis.example:6380/1',
          redis_prefix: 'poort:',
        });
        fs.writeFileSync(file, '');
        expect(loadConfig({ file, env: {} }).config.storage.ephemeral).toBe('sqlite');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses to start without a Redis URL', async () => {
      await expect(startPoort(`${FAST_ARGON2}storage: { ephemeral: redis }\n`)).rejects.toThrow(
        /storage.redis_url \(or POORT_REDIS_URL\) is required/,
      );
    });

    it('issues and introspects tokens with their state in Redis', async () => {
      const p = `${runPrefix}poort:`;
      const poort = await startPoort(
        `${FAST_ARGON2}storage: { ephemeral: redis, redis_url: '${redisUrl}', redis_prefix: '${p}' }\n`,
      );
      try {
        expect(poort.services.kv).toBeInstanceOf(RedisKeyValueStore);
        await poort.addClient({
          clientId: 'service',
          secret: 'service-secret-0123456789',
          grantTypes: ['client_credentials'],
        });
        const service = await relyingParty(poort, 'service', 'service-secret-0123456789');
        const tokens = await oidc.clientCredentialsGrant(service);
        expect(await oidc.tokenIntrospection(service, tokens.access_token)).toMatchObject({ active: true });
        expect((await keysUnder(p)).some((k) => k.startsWith(`${p}kv:oidc:ClientCredentials:`))).toBe(true);
        await poort.services.kv.ping();
      } finally {
        await poort.stop();
      }
    });
  });
});
