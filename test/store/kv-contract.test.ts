import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AdapterPayload } from 'oidc-provider';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClientRepository } from '../../src/clients/clients.js';
import { OidcAdapter } from '../../src/oidc/adapter.js';
import { openDurableStore, type Db } from '../../src/store/database.js';
import { takeOnce, type KeyValueStore } from '../../src/store/kv.js';
import { SqliteKeyValueStore } from '../../src/store/kv-sqlite.js';
import { RedisKeyValueStore } from '../../src/store/kv-redis.js';
import { tempDir } from '../helpers/poort.js';
import { deleteKeysUnder, keysUnder, redisUrl, requireRedis, testPrefix } from '../helpers/redis.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One implementation of the key-value store, opened afresh (and empty) for every test. */
interface Implementation {
  name: string;
  setUp(): Promise<void>;
  open(): Promise<KeyValueStore>;
  /** a second store on the same data, as another process or node has */
  openAnother(): Promise<KeyValueStore>;
  tearDown(): Promise<void>;
}

function sqlite(): Implementation {
  let dir = '';
  return {
    name: 'SQLite (ephemeral.sqlite)',
    setUp: async () => {
      dir = tempDir('poort-kv-');
    },
    open: async () => SqliteKeyValueStore.inDataDir(dir),
    openAnother: async () => SqliteKeyValueStore.inDataDir(dir),
    tearDown: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

function redis(): Implementation {
  const runPrefix = testPrefix();
  let testNo = 0;
  let prefix = '';
  return {
    name: 'Redis',
    setUp: async () => {
      await requireRedis();
      prefix = `${runPrefix}${++testNo}:`;
    },
    open: () => RedisKeyValueStore.connect(redisUrl, { prefix }),
    openAnother: () => RedisKeyValueStore.connect(redisUrl, { prefix }),
    tearDown: async () => {
      await deleteKeysUnder(prefix);
      expect(await keysUnder(prefix)).toEqual([]);
    },
  };
}

/**
 * What every key-value store promises (src/store/kv.ts), checked on each implementation with real time: Redis
 * expires keys by its own clock. Implementation-specific behaviour has its tests beside this file.
 */
describe.each([sqlite(), redis()])('the key-value store contract on $name', (impl) => {
  let kv: KeyValueStore;
  let db: Db;
  let clients: ClientRepository;
  let dir: string;
  const adapter = (model: string) => new OidcAdapter(model, kv, clients);

  beforeAll(async () => {
    // the adapter reads clients from the durable store; the tests below use only the ephemeral models
    dir = tempDir('poort-kv-clients-');
    db = await openDurableStore(dir);
    clients = new ClientRepository(db, crypto.randomBytes(32));
  });
  afterAll(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await impl.setUp();
    kv = await impl.open();
  });
  afterEach(async () => {
    await kv.close();
    await impl.tearDown();
  });

  describe('get, set and delete', () => {
    it('stores JSON values under a key, and deletes them', async () => {
      await kv.set('a', { n: 1, list: ['x'], nested: { ok: true } });
      await kv.set('b', 'text');
      await kv.set('c', 0);
      await kv.set('d', false);
      expect(await kv.get('a')).toEqual({ n: 1, list: ['x'], nested: { ok: true } });
      expect(await kv.get('b')).toBe('text');
      expect(await kv.get('c')).toBe(0);
      expect(await kv.get('d')).toBe(false);
      await kv.delete('a');
      expect(await kv.get('a')).toBeUndefined();
      expect(await kv.get('never')).toBeUndefined();
      await expect(kv.delete('never')).resolves.toBeUndefined();
    });

    it('shares its data with another store on the same backing (another process or node)', async () => {
      const other = await impl.openAnother();
      try {
        await kv.set('shared', { from: 'one' });
        expect(await other.get('shared')).toEqual({ from: 'one' });
        await other.delete('shared');
        expect(await kv.get('shared')).toBeUndefined();
      } finally {
        await other.close();
      }
    });
  });

  describe('time to live', () => {
    it('forgets a value when its TTL has passed, and keeps one without TTL', async () => {
      // Generous times: the machine may be busy.
      await kv.set('short', 1, 1);
      await kv.set('forever', 2);
      expect(await kv.get('short')).toBe(1);
      await sleep(1_100);
      expect(await kv.get('short')).toBeUndefined();
      expect(await kv.get('forever')).toBe(2);
    });

    it('replaces the value and the expiry on set', async () => {
      await kv.set('k', 'old', 0.2);
      await kv.set('k', 'new');
      await sleep(300);
      expect(await kv.get('k')).toBe('new');
      await kv.set('k', 'newer', 0.2);
      await sleep(300);
      expect(await kv.get('k')).toBeUndefined();
    });
  });

  describe('update', () => {
    it('passes the current value and the time, stores what fn returns, and returns its result', async () => {
      await kv.set('n', 41);
      const seen: Array<[unknown, number]> = [];
      const before = Date.now();
      const result = await kv.update<number, string>('n', (current, now) => {
        seen.push([current, now]);
        return { value: (current ?? 0) + 1, result: 'done' };
      });
      expect(result).toBe('done');
      expect(seen[0]![0]).toBe(41);
      expect(seen[0]![1]).toBeGreaterThanOrEqual(before);
      expect(seen[0]![1]).toBeLessThanOrEqual(Date.now());
      expect(await kv.get('n')).toBe(42);
    });

    it('sees an absent or expired value as undefined', async () => {
      expect(
        await kv.update<number, number | undefined>('fresh', (current) => ({ value: 1, result: current })),
      ).toBeUndefined();
      expect(await kv.get('fresh')).toBe(1);
      await kv.set('n', 5, 0.1);
      await sleep(200);
      expect(
        await kv.update<number, number | undefined>('n', (current) => ({ value: 1, result: current })),
      ).toBeUndefined();
    });

    it('keeps the current expiry unless fn gives a new TTL', async () => {
      await kv.set('n', 0, 1);
      await kv.update<number, void>('n', (c) => ({ value: c! + 1, result: undefined }));
      expect(await kv.get('n')).toBe(1);
      await sleep(1_100);
      expect(await kv.get('n')).toBeUndefined();

      await kv.set('m', 0, 0.3);
      await kv.update<number, void>('m', (c) => ({ value: c! + 1, ttlSeconds: 60, result: undefined }));
      await sleep(400);
      expect(await kv.get('m')).toBe(1);
      await kv.update<number, void>('m', (c) => ({ value: c! + 1, ttlSeconds: 0.1, result: undefined }));
      await sleep(200);
      expect(await kv.get('m')).toBeUndefined();
    });

    it('deletes the key when fn returns no value', async () => {
      await kv.set('n', 1);
      await kv.update('n', () => ({ value: undefined, result: undefined }));
      expect(await kv.get('n')).toBeUndefined();
    });

    it('gives a value taken once (takeOnce) to one of several readers at once', async () => {
      await kv.set('once', { state: 'x' }, 60);
      const taken = await Promise.all(
        Array.from({ length: 5 }, () => takeOnce<{ state: string }>(kv, 'once')),
      );
      expect(taken.filter((t) => t !== undefined)).toEqual([{ state: 'x' }]);
      expect(await kv.get('once')).toBeUndefined();
    });

    it('changes nothing when fn throws, passes the error on, and stays usable', async () => {
      await kv.set('n', 1);
      await expect(
        kv.update('n', () => {
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await kv.get('n')).toBe(1);
      await kv.update<number, void>('m', () => ({ value: 7, result: undefined }));
      expect(await kv.get('m')).toBe(7);
    });

    it('loses no update when many run at once', async () => {
      const increment = () =>
        kv.update<number, number>('count', (c) => ({ value: (c ?? 0) + 1, result: (c ?? 0) + 1 }));
      const results = await Promise.all(Array.from({ length: 50 }, increment));
      expect(await kv.get('count')).toBe(50);
      expect(results.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    });

    it('loses no update between two stores on the same backing (server and CLI, or two nodes)', async () => {
      const other = await impl.openAnother();
      try {
        const increment = (store: KeyValueStore) =>
          store.update<number, void>('count', (c) => ({ value: (c ?? 0) + 1, result: undefined }));
        await Promise.all(Array.from({ length: 100 }, (_, i) => increment(i % 2 ? kv : other)));
        expect(await kv.get('count')).toBe(100);
        expect(await other.get('count')).toBe(100);
      } finally {
        await other.close();
      }
    });
  });

  describe('indexes', () => {
    it('deletes every member of an index together, and nothing else', async () => {
      await kv.set('token:1', 'a');
      await kv.set('token:2', 'b');
      await kv.set('token:3', 'c');
      await kv.indexAdd('grant:g', 'token:1');
      await kv.indexAdd('grant:g', 'token:2');
      await kv.indexAdd('grant:h', 'token:3');
      await kv.deleteIndexed('grant:g');
      expect(await kv.get('token:1')).toBeUndefined();
      expect(await kv.get('token:2')).toBeUndefined();
      expect(await kv.get('token:3')).toBe('c');
    });

    it('lists the keys of an index, each once, until it is deleted', async () => {
      await kv.indexAdd('account:a', 'session:1', 60);
      await kv.batch([
        { op: 'set', key: 'session:2', value: 'x', ttlSeconds: 60 },
        { op: 'indexAdd', index: 'account:a', member: 'session:2', ttlSeconds: 60 },
      ]);
      await kv.indexAdd('account:a', 'session:1', 60);
      await kv.indexAdd('account:b', 'session:3', 60);
      expect((await kv.indexedKeys('account:a')).sort()).toEqual(['session:1', 'session:2']);
      expect(await kv.indexedKeys('account:none')).toEqual([]);
      await kv.deleteIndexed('account:a');
      expect(await kv.indexedKeys('account:a')).toEqual([]);
      expect(await kv.indexedKeys('account:b')).toEqual(['session:3']);
    });

    it('keeps indexes apart from values of the same name', async () => {
      await kv.set('grant:g', 'a value');
      await kv.set('token:1', 'a');
      await kv.indexAdd('grant:g', 'token:1');
      await kv.deleteIndexed('grant:g');
      expect(await kv.get('token:1')).toBeUndefined();
      expect(await kv.get('grant:g')).toBe('a value');
    });

    it('forgets the index itself once deleted', async () => {
      await kv.indexAdd('grant:g', 'token:1');
      await kv.deleteIndexed('grant:g');
      await kv.set('token:1', 'reissued');
      await kv.deleteIndexed('grant:g');
      expect(await kv.get('token:1')).toBe('reissued');
    });

    it('is harmless for an unknown index or members already gone', async () => {
      await kv.indexAdd('grant:g', 'token:gone');
      await expect(kv.deleteIndexed('grant:g')).resolves.toBeUndefined();
      await expect(kv.deleteIndexed('grant:none')).resolves.toBeUndefined();
    });

    it('keeps an index entry as long as its longest-lived member', async () => {
      await kv.indexAdd('grant:g', 'token:1', 0.3);
      await kv.indexAdd('grant:g', 'token:1', 60);
      await kv.indexAdd('grant:g', 'token:2', 0.3);
      await sleep(400);
      await kv.set('token:1', 'still indexed');
      await kv.deleteIndexed('grant:g');
      expect(await kv.get('token:1')).toBeUndefined();
    });
  });

  describe('batch', () => {
    it('stores values and index entries together, each with its TTL', async () => {
      await kv.batch([
        { op: 'set', key: 'oidc:AccessToken:1', value: { grantId: 'g' }, ttlSeconds: 0.3 },
        { op: 'indexAdd', index: 'oidc:grant:g', member: 'oidc:AccessToken:1', ttlSeconds: 0.3 },
        { op: 'set', key: 'oidc:RefreshToken:2', value: { grantId: 'g' }, ttlSeconds: 60 },
        { op: 'indexAdd', index: 'oidc:grant:g', member: 'oidc:RefreshToken:2', ttlSeconds: 60 },
        { op: 'set', key: 'oidc:uid:u', value: '1' },
      ]);
      expect(await kv.get('oidc:AccessToken:1')).toEqual({ grantId: 'g' });
      await sleep(400);
      expect(await kv.get('oidc:AccessToken:1')).toBeUndefined();
      expect(await kv.get('oidc:RefreshToken:2')).toEqual({ grantId: 'g' });
      await kv.deleteIndexed('oidc:grant:g');
      expect(await kv.get('oidc:RefreshToken:2')).toBeUndefined();
      expect(await kv.get('oidc:uid:u')).toBe('1');
    });

    it('writes nothing when one operation cannot be stored', async () => {
      await expect(
        kv.batch([
          { op: 'set', key: 'a', value: 1 },
          { op: 'set', key: 'b', value: undefined },
        ]),
      ).rejects.toThrow();
      expect(await kv.get('a')).toBeUndefined();
    });

    it('accepts an empty batch', async () => {
      await expect(kv.batch([])).resolves.toBeUndefined();
    });
  });

  describe("oidc-provider's adapter on it", () => {
    it('lets exactly one of many concurrent consumes of a token win; the reuse revokes the whole grant', async () => {
      const tokens = adapter('RefreshToken');
      await adapter('Grant').upsert('g', { jti: 'g', accountId: 'a' } as AdapterPayload, 60);
      await tokens.upsert('rt', { grantId: 'g' } as AdapterPayload, 60);
      await adapter('AccessToken').upsert('at', { grantId: 'g' } as AdapterPayload, 60);
      const other = await impl.openAnother();
      try {
        const elsewhere = new OidcAdapter('RefreshToken', other, clients);
        const outcomes = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => (i % 2 ? tokens : elsewhere).consume('rt')),
        );
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        for (const o of outcomes.filter((o) => o.status === 'rejected')) {
          expect(o.reason).toMatchObject({ error: 'invalid_grant' });
        }
      } finally {
        await other.close();
      }
      expect(await tokens.find('rt')).toBeUndefined();
      expect(await adapter('AccessToken').find('at')).toBeUndefined();
      expect(await adapter('Grant').find('g')).toBeUndefined();
    });

    it('revokes every token of a grant at once, even while tokens of it are being stored', async () => {
      await adapter('AccessToken').upsert('other', { grantId: 'h' } as AdapterPayload, 60);
      const stored = Array.from({ length: 20 }, (_, i) =>
        adapter(i % 2 ? 'AccessToken' : 'RefreshToken').upsert(
          `t${i}`,
          { grantId: 'g' } as AdapterPayload,
          60,
        ),
      );
      const revoked = adapter('RefreshToken').revokeByGrantId('g');
      await Promise.all([...stored, revoked]);
      // Every token stored before the revocation is gone with it; one stored after it is left with its index
      // entry, so a second revocation takes it too: none survives both.
      await adapter('RefreshToken').revokeByGrantId('g');
      for (let i = 0; i < 20; i++) {
        expect(await adapter(i % 2 ? 'AccessToken' : 'RefreshToken').find(`t${i}`)).toBeUndefined();
      }
      expect(await adapter('AccessToken').find('other')).toBeDefined();
    });

    it('finds a session by uid until it is destroyed', async () => {
      const sessions = adapter('Session');
      await sessions.upsert('s1', { uid: 'u1', accountId: 'a' } as AdapterPayload, 60);
      expect(await sessions.find('s1')).toMatchObject({ accountId: 'a' });
      expect(await sessions.findByUid('u1')).toMatchObject({ accountId: 'a' });
      await sessions.destroy('s1');
      expect(await sessions.find('s1')).toBeUndefined();
      expect(await sessions.findByUid('u1')).toBeUndefined();
    });
  });
});
