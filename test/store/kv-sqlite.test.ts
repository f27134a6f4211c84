import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
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

  describe('group commit', () => {
    const committed = (): Array<{ key: string; value: string }> => {
      const db = new SQLite(path.join(dir, 'ephemeral.sqlite'), { readonly: true });
      try {
        return db.prepare<[], { key: string; value: string }>('SELECT key, value FROM kv ORDER BY key').all();
      } finally {
        db.close();
      }
    };

    it('answers a read of a key from its waiting write, without committing early; deletes wait too', async () => {
      await kv.set('gone', 'soon');
      const writes = [kv.set('a', { n: 1 }, 60), kv.set('b', 2), kv.delete('gone')];
      expect(await kv.get('a')).toEqual({ n: 1 });
      expect(await kv.get('gone')).toBeUndefined();
      expect(await kv.get('never')).toBeUndefined();
      // another process (the CLI) sees none of it yet: the reads committed nothing
      expect(committed()).toEqual([{ key: 'gone', value: '"soon"' }]);
      await Promise.all(writes);
      expect(committed()).toEqual([
        { key: 'a', value: '{"n":1}' },
        { key: 'b', value: '2' },
      ]);
    });

    it('stores a value as it was when set, and counts its TTL from then', async () => {
      const value = { n: 1 };
      const stored = kv.set('v', value, 10);
      value.n = 2;
      expect(await kv.get('v')).toEqual({ n: 1 });
      at(10_000);
      expect(await kv.get('v')).toBeUndefined();
      await stored;
      at(9_999);
      expect(await kv.get('v')).toEqual({ n: 1 });
    });

    it('refuses a value that is not JSON to its caller alone; the writes beside it are stored', async () => {
      const beside = kv.set('beside', 1);
      await expect(kv.set('nothing', undefined)).rejects.toThrow('cannot store undefined under nothing');
      await expect(kv.batch([{ op: 'set', key: 'fn', value: () => 1 }])).rejects.toThrow(
        'cannot store function under fn',
      );
      await beside;
      expect(committed()).toEqual([{ key: 'beside', value: '1' }]);
    });

    it('commits what waits before a read-modify-write of the same key', async () => {
      void kv.set('n', 1);
      expect(await kv.update<number, number>('n', (c) => ({ value: c! + 1, result: c! + 1 }))).toBe(2);
      expect(committed()).toEqual([{ key: 'n', value: '2' }]);
    });
  });

  describe('layout', () => {
    const columns = (file: string): string[] => {
      const db = new SQLite(file, { readonly: true });
      try {
        return (db.pragma('table_info(kv)') as Array<{ name: string }>).map((c) => c.name);
      } finally {
        db.close();
      }
    };

    it('keeps the values in a rowid table, their keys in a unique index', () => {
      expect(columns(path.join(dir, 'ephemeral.sqlite'))).toEqual(['id', 'key', 'value', 'expires_at']);
    });

    it('moves the values of a file of the older layout (keyed WITHOUT ROWID) over, with their expiry', async () => {
      const olderDir = tempDir('poort-kv-older-');
      const file = path.join(olderDir, 'ephemeral.sqlite');
      const older = new SQLite(file);
      older.exec(`
        CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER) WITHOUT ROWID;
        CREATE INDEX kv_expires ON kv (expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE kv_index (idx TEXT NOT NULL, member TEXT NOT NULL, expires_at INTEGER,
          PRIMARY KEY (idx, member)) WITHOUT ROWID;
        CREATE INDEX kv_index_expires ON kv_index (expires_at) WHERE expires_at IS NOT NULL;
      `);
      const put = older.prepare('INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?)');
      put.run('oidc:Session:s1', JSON.stringify({ accountId: 'u1' }), T0 + 30_000);
      put.run('forever', JSON.stringify(7), null);
      older.prepare('INSERT INTO kv_index VALUES (?, ?, ?)').run('grant:g', 'oidc:Session:s1', T0 + 30_000);
      older.close();

      const moved = SqliteKeyValueStore.inDataDir(olderDir);
      try {
        expect(columns(file)).toEqual(['id', 'key', 'value', 'expires_at']);
        expect(await moved.get('oidc:Session:s1')).toEqual({ accountId: 'u1' });
        expect(await moved.get('forever')).toBe(7);
        expect(await moved.indexedKeys('grant:g')).toEqual(['oidc:Session:s1']);
        await moved.set('oidc:Session:s1', { accountId: 'u1', again: true }, 60);
        expect(await moved.get('oidc:Session:s1')).toEqual({ accountId: 'u1', again: true });
        at(60_000);
        expect(await moved.get('oidc:Session:s1')).toBeUndefined();
        expect(moved.sweep()).toBe(2);
        expect(await moved.get('forever')).toBe(7);
      } finally {
        await moved.close();
      }
      // opened again: nothing left to move, nothing lost
      const again = SqliteKeyValueStore.inDataDir(olderDir);
      try {
        expect(await again.get('forever')).toBe(7);
      } finally {
        await again.close();
        fs.rmSync(olderDir, { recursive: true, force: true });
      }
    });
  });

  it('answers ping while open and throws once closed', async () => {
    await expect(kv.ping()).resolves.toBeUndefined();
    const other = SqliteKeyValueStore.inDataDir(dir);
    await other.close();
    await expect(other.ping()).rejects.toThrow();
  });
});
