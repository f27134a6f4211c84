import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  batchRows,
  copyOrder,
  copySnapshot,
  CopyError,
  isDurableTable,
  SqliteSnapshot,
  type TableShape,
} from '../../src/store/copy.js';
import { openDurableSqlite, type Db } from '../../src/store/database.js';
import { migrations } from '../../src/store/migrations/index.js';
import { openDurablePostgres } from '../../src/store/postgres.js';
import { tempDir } from '../helpers/poort.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const MIGRATIONS = Object.keys(migrations);
const table = (name: string, references: string[] = []): TableShape => ({
  name,
  columns: ['id'],
  references,
});

describe('copy order', () => {
  it('puts every referenced table before the tables that refer to it, otherwise in name order', () => {
    const order = copyOrder([
      table('memberships', ['users', 'groups']),
      table('audit_events'),
      table('factors', ['users']),
      table('users'),
      table('groups'),
    ]).map((t) => t.name);
    expect(order).toEqual(['audit_events', 'groups', 'users', 'factors', 'memberships']);
  });

  it('accepts a table that refers to itself, and refuses a cycle between tables', () => {
    expect(copyOrder([table('groups', ['groups'])]).map((t) => t.name)).toEqual(['groups']);
    expect(() => copyOrder([table('a', ['b']), table('b', ['a']), table('c')])).toThrow(/a, b form a cycle/);
  });

  it('keeps each INSERT under PostgreSQL’s 65535 parameters', () => {
    expect(batchRows(12)).toBe(1000);
    expect(batchRows(12, 2)).toBe(2);
    expect(batchRows(200) * 200).toBeLessThanOrEqual(65_535);
    expect(batchRows(100_000)).toBe(1);
  });

  it('leaves out SQLite’s own tables and the migration bookkeeping', () => {
    expect(isDurableTable('users')).toBe(true);
    expect(isDurableTable('kysely_migration')).toBe(false);
    expect(isDurableTable('kysely_migration_lock')).toBe(false);
    expect(isDurableTable('sqlite_sequence')).toBe(false);
  });
});

describe('copying the embedded store into PostgreSQL', { timeout: 60_000 }, () => {
  let dir: string;
  let file: string;
  let database: TestDatabase;
  let target: Db;
  const open: Array<{ close(): void }> = [];

  /** A migrated embedded store with a user and a group, as a fresh Poort leaves it. */
  async function sourceStore(): Promise<SQLite.Database> {
    const { db } = await openDurableSqlite(path.join(dir, 'data'));
    await db.destroy();
    const writer = new SQLite(file);
    open.push(writer);
    writer
      .prepare(
        'INSERT INTO users (id, username, email, name, password_hash, enabled, created_at, updated_at) ' +
          "VALUES ('u1', 'anna', 'anna@example.org', 'Anna', 'hash', 1, 't0', 't1')",
      )
      .run();
    writer.prepare("INSERT INTO groups (id, name, created_at) VALUES ('g1', 'staff', 't0')").run();
    writer.prepare("INSERT INTO memberships (user_id, group_id) VALUES ('u1', 'g1')").run();
    return writer;
  }

  function snapshot(): SqliteSnapshot {
    const opened = SqliteSnapshot.open(file);
    open.push(opened);
    return opened;
  }

  beforeEach(async () => {
    dir = tempDir('poort-copy-');
    file = path.join(dir, 'data', 'poort.sqlite');
    database = await createTestDatabase();
    target = await openDurablePostgres(database.url, { max: 2 });
  });
  afterEach(async () => {
    for (const handle of open.splice(0)) handle.close();
    await target.destroy();
    await database.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('finds the same durable tables in a migrated SQLite store as the migrations create in PostgreSQL', async () => {
    await sourceStore();
    const inSqlite = snapshot()
      .tables()
      .map((t) => t.name);
    const inPostgres = (await target.introspection.getTables()).map((t) => t.name).sort();
    expect(inSqlite).toEqual(inPostgres);
    expect(inSqlite).toEqual(expect.arrayContaining(['users', 'audit_events', 'policy_versions', 'devices']));
  });

  it('copies a table a later migration adds, unlisted, byte for byte, and moves its identity sequence on', async () => {
    const writer = await sourceStore();
    // What a migration 0xx would add on each side: a foreign key, a big integer, a blob, awkward text.
    writer.exec(`CREATE TABLE later_things (id integer PRIMARY KEY, user_id text REFERENCES users(id),
      big integer, data blob, note text)`);
    await sql`CREATE TABLE later_things (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      user_id text REFERENCES users(id), big bigint, data bytea, note text)`.execute(target);
    const note = 'ë "quoted" \\ back\nline\u2028 ☃ 🔑';
    const insert = writer.prepare('INSERT INTO later_things VALUES (?, ?, ?, ?, ?)');
    insert.run(41, 'u1', 9007199254740993n, Buffer.from([0, 255, 1]), note);
    insert.run(42, null, null, null, null);
    insert.run(7, 'u1', -1, Buffer.alloc(0), '');

    const counts = await copySnapshot(snapshot(), target, { migrations: MIGRATIONS, batch: 2 });
    expect(counts).toContainEqual({ table: 'later_things', rows: 3 });
    expect(counts).toContainEqual({ table: 'memberships', rows: 1 });
    const { rows } = await sql<{
      id: number;
      user_id: string | null;
      big: string | null;
      data: Buffer | null;
      note: string | null;
    }>`
      SELECT * FROM later_things ORDER BY id`.execute(target);
    expect(rows).toEqual([
      { id: 7, user_id: 'u1', big: '-1', data: Buffer.alloc(0), note: '' },
      { id: 41, user_id: 'u1', big: '9007199254740993', data: Buffer.from([0, 255, 1]), note },
      { id: 42, user_id: null, big: null, data: null, note: null },
    ]);
    const added = await sql<{
      id: number;
    }>`INSERT INTO later_things (note) VALUES ('new') RETURNING id`.execute(target);
    expect(added.rows[0]!.id).toBe(43);
  });

  it('copies the snapshot taken when the store was opened, not what a writer commits meanwhile', async () => {
    const writer = await sourceStore();
    const opened = snapshot();
    writer.prepare("INSERT INTO groups (id, name, created_at) VALUES ('g2', 'late', 't2')").run();
    writer.prepare("UPDATE users SET name = 'Changed' WHERE id = 'u1'").run();
    const counts = await copySnapshot(opened, target, { migrations: MIGRATIONS });
    expect(counts).toContainEqual({ table: 'groups', rows: 1 });
    const users = await target.selectFrom('users').select(['id', 'name']).execute();
    expect(users).toEqual([{ id: 'u1', name: 'Anna' }]);
  });

  it('refuses a target that holds rows, naming the tables, and changes nothing there', async () => {
    await sourceStore();
    await target.insertInto('groups').values({ id: 'gx', name: 'already-here', created_at: 't' }).execute();
    const refused = copySnapshot(snapshot(), target, { migrations: MIGRATIONS });
    await expect(refused).rejects.toThrow(CopyError);
    await expect(refused).rejects.toThrow('the target is not empty: table groups has rows');
    expect(await target.selectFrom('users').selectAll().execute()).toEqual([]);
  });

  it('refuses a target that holds tables of something else', async () => {
    await sourceStore();
    await sql`CREATE TABLE invoices (id integer PRIMARY KEY)`.execute(target);
    await expect(copySnapshot(snapshot(), target, { migrations: MIGRATIONS })).rejects.toThrow(
      "the target holds a table invoices that Poort's store does not have",
    );
  });

  it('commits nothing when the last step fails: all or nothing', async () => {
    await sourceStore();
    await expect(
      copySnapshot(snapshot(), target, {
        migrations: MIGRATIONS,
        finish: async (trx) => {
          expect(await trx.selectFrom('users').select('id').execute()).toEqual([{ id: 'u1' }]);
          throw new Error('audit unavailable');
        },
      }),
    ).rejects.toThrow('audit unavailable');
    expect(await target.selectFrom('users').selectAll().execute()).toEqual([]);
    expect(await target.selectFrom('memberships').selectAll().execute()).toEqual([]);
  });

  it('refuses a source that is behind this version, or not a Poort store at all', async () => {
    const writer = await sourceStore();
    writer.prepare('DELETE FROM kysely_migration WHERE name = ?').run(MIGRATIONS.at(-1));
    await expect(copySnapshot(snapshot(), target, { migrations: MIGRATIONS })).rejects.toThrow(
      `the source lacks migration ${MIGRATIONS.at(-1)}`,
    );
    writer.exec('DROP TABLE kysely_migration');
    await expect(copySnapshot(snapshot(), target, { migrations: MIGRATIONS })).rejects.toThrow(
      'not a Poort store',
    );
    expect(() => SqliteSnapshot.open(path.join(dir, 'missing.sqlite'))).toThrow(
      /cannot read the SQLite store .*missing\.sqlite/,
    );
  });
});
