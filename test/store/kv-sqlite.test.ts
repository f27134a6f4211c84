import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteKeyValueStore } from '../../src/store/kv-sqlite.js';
import { tempDir } from '../helpers/poort.js';

const T0 = new Date('2030-01-01T00:00:00Z').getTime();

// What every key-value store promises is checked in kv-contract.test.ts; these are the SQLite store's own ways.
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

  it('keeps its data in data/ephemeral.sqlite', () => {
    expect(fs.existsSync(path.join(dir, 'ephemeral.sqlite'))).toBe(true);
  });

  it('expires by the clock of the process: a value lives exactly its TTL', async () => {
    await kv.set('short', 1, 30);
    await kv.set('forever', 2);
    at(29_999);
    expect(await kv.get('short')).toBe(1);
    at(30_000);
    expect(await kv.get('short')).toBeUndefined();
    at(10 * 365 * 86_400_000);
    expect(await kv.get('forever')).toBe(2);
  });

  it('keeps the current expiry on update to the millisecond', async () => {
    await kv.set('n', 0, 10);
    await kv.update<number, void>('n', (c) => ({ value: c! + 1, result: undefined }));
    at(9_999);
    expect(await kv.get('n')).toBe(1);
    at(10_000);
    expect(await kv.get('n')).toBeUndefined();
  });

  it('keeps an index entry as long as its longest-lived member, through a sweep', async () => {
    await kv.indexAdd('grant:g', 'token:1', 10);
    await kv.indexAdd('grant:g', 'token:1', 100);
    await kv.indexAdd('grant:g', 'token:1', 50);
    at(99_000);
    kv.sweep();
    await kv.set('token:1', 'still indexed');
    await kv.deleteIndexed('grant:g');
    expect(await kv.get('token:1')).toBeUndefined();
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
