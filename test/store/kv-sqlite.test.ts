import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteKeyValueStore } from '../../src/store/kv-sqlite.js';
import { tempDir } from '../helpers/poort.js';

const T0 = new Date('2030-01-01T00:00:00Z').getTime();

describe('the SQLite key-value store', () => {
  let dir: string;
  let kv: SqliteKeyValueStore;
  const at = (ms: number) => vi.setSystemTime(T0 + ms);

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    at(0);
    dir = tempDir('poort-kv-');
    kv = SqliteKeyValueStore.inDataDir(dir);
  });
  afterEach(async () => {
    vi.useRealTimers();
    await kv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('values with a time to live', () => {
    it('stores JSON values under a key, and deletes them', async () => {
      await kv.set('a', { n: 1, list: ['x'], nested: { ok: true } });
      await kv.set('b', 'text');
      expect(await kv.get('a')).toEqual({ n: 1, list: ['x'], nested: { ok: true } });
      expect(await kv.get('b')).toBe('text');
      await kv.delete('a');
      expect(await kv.get('a')).toBeUndefined();
      expect(await kv.get('never')).toBeUndefined();
    });

    it('forgets a value when its TTL has passed, and keeps one without TTL', async () => {
      await kv.set('short', 1, 30);
      await kv.set('forever', 2);
      at(29_999);
      expect(await kv.get('short')).toBe(1);
      at(30_000);
      expect(await kv.get('short')).toBeUndefined();
      at(10 * 365 * 86_400_000);
      expect(await kv.get('forever')).toBe(2);
    });

    it('replaces the value and the expiry on set', async () => {
      await kv.set('k', 'old', 10);
      await kv.set('k', 'new');
      at(60_000);
      expect(await kv.get('k')).toBe('new');
    });

    it('keeps its data in data/ephemeral.sqlite', () => {
      expect(fs.existsSync(path.join(dir, 'ephemeral.sqlite'))).toBe(true);
    });
  });

  describe('update', () => {
    it('passes the current value and the time, stores what fn returns, and returns its result', async () => {
      await kv.set('n', 41);
      const seen: Array<[unknown, number]> = [];
      const result = await kv.update<number, string>('n', (current, now) => {
        seen.push([current, now]);
        return { value: (current ?? 0) + 1, result: 'done' };
      });
      expect(result).toBe('done');
      expect(seen).toEqual([[41, T0]]);
      expect(await kv.get('n')).toBe(42);
    });

    it('sees an expired value as absent', async () => {
      await kv.set('n', 5, 1);
      at(1000);
      expect(
        await kv.update<number, number | undefined>('n', (current) => ({ value: 1, result: current })),
      ).toBeUndefined();
    });

    it('keeps the current expiry unless fn gives a new TTL', async () => {
      await kv.set('n', 0, 10);
      await kv.update<number, void>('n', (c) => ({ value: c! + 1, result: undefined }));
      at(9_999);
      expect(await kv.get('n')).toBe(1);
      await kv.update<number, void>('n', (c) => ({ value: c! + 1, ttlSeconds: 60, result: undefined }));
      at(9_999 + 59_999);
      expect(await kv.get('n')).toBe(2);
      at(9_999 + 60_000);
      expect(await kv.get('n')).toBeUndefined();
    });

    it('deletes the key when fn returns no value', async () => {
      await kv.set('n', 1);
      await kv.update('n', () => ({ value: undefined, result: undefined }));
      expect(await kv.get('n')).toBeUndefined();
    });

    it('changes nothing when fn throws, and passes the error on', async () => {
      await kv.set('n', 1);
      await expect(
        kv.update('n', () => {
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await kv.get('n')).toBe(1);
    });

    it('loses no update when many run at once', async () => {
      const increment = () =>
        kv.update<number, number>('count', (c) => ({ value: (c ?? 0) + 1, result: (c ?? 0) + 1 }));
      const results = await Promise.all(Array.from({ length: 200 }, increment));
      expect(await kv.get('count')).toBe(200);
      expect(new Set(results).size).toBe(200);
    });

    it('loses no update between two connections to the same file (server and CLI)', async () => {
      const other = SqliteKeyValueStore.inDataDir(dir);
      try {
        const increment = (store: SqliteKeyValueStore) =>
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
      await kv.indexAdd('grant:g', 'token:1', 10);
      await kv.indexAdd('grant:g', 'token:1', 100);
      await kv.indexAdd('grant:g', 'token:1', 50);
      at(99_000);
      kv.sweep();
      await kv.set('token:1', 'still indexed');
      await kv.deleteIndexed('grant:g');
      expect(await kv.get('token:1')).toBeUndefined();
    });
  });

  describe('sweep', () => {
    it('removes expired values and index entries, and counts them', async () => {
      await kv.set('old', 1, 10);
      await kv.set('young', 2, 100);
      await kv.set('forever', 3);
      await kv.indexAdd('grant:g', 'old', 10);
      await kv.indexAdd('grant:g', 'young', 100);
      at(10_000);
      expect(kv.sweep()).toBe(2);
      expect(kv.sweep()).toBe(0);
      // The swept index entry no longer reaches the key, should it be written again without an index.
      await kv.set('old', 'new life');
      await kv.deleteIndexed('grant:g');
      expect(await kv.get('old')).toBe('new life');
      expect(await kv.get('young')).toBeUndefined();
      expect(await kv.get('forever')).toBe(3);
    });
  });

  it('answers ping while open and throws once closed', async () => {
    await expect(kv.ping()).resolves.toBeUndefined();
    const other = SqliteKeyValueStore.inDataDir(dir);
    await other.close();
    await expect(other.ping()).rejects.toThrow();
  });
});
