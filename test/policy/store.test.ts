import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultPolicyFile, policyFile, PolicyProvider, type ActivePolicy } from '../../src/policy/load.js';
import { PolicyError } from '../../src/policy/schema.js';
import { PolicyStore } from '../../src/policy/store.js';
import { openDurableSqlite, sqliteChangeCounter, type Db } from '../../src/store/database.js';
import { openDurablePostgres, timeBucketCounter } from '../../src/store/postgres.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { ISSUE_EXAMPLE } from './fixture.js';

const DENY_ALL = 'default: deny\n';

/** Two connections to one durable store, the server's and the CLI's (another process), and the server's counter. */
interface Connections {
  server: Db;
  cli: Db;
  changes: () => number;
  close(): Promise<void>;
}

interface Store {
  name: string;
  /** the counter moves only when another connection commits (SQLite), not with time (PostgreSQL) */
  countsCommits: boolean;
  setUp(): Promise<void>;
  open(dir: string): Promise<Connections>;
  tearDown(): Promise<void>;
}

const sqlite: Store = {
  name: 'SQLite',
  countsCommits: true,
  setUp: async () => {},
  async open(dir) {
    const server = await openDurableSqlite(dir);
    const cli = await openDurableSqlite(dir);
    return {
      server: server.db,
      cli: cli.db,
      changes: sqliteChangeCounter(server.sqlite),
      close: async () => {
        await server.db.destroy();
        await cli.db.destroy();
      },
    };
  },
  tearDown: async () => {},
};

function postgres(): Store {
  let database: TestDatabase | undefined;
  return {
    name: 'PostgreSQL',
    countsCommits: false,
    setUp: async () => {
      database = await createTestDatabase();
    },
    async open() {
      const server = await openDurablePostgres(database!.url, { max: 2 });
      const cli = await openDurablePostgres(database!.url, { max: 2 });
      // every read goes to the store: there is no commit counter across nodes to wait for
      return {
        server,
        cli,
        changes: timeBucketCounter(1),
        async close() {
          // a fresh database for the next test: empty the one table these tests write
          await cli.deleteFrom('policy_versions').execute();
          await server.destroy();
          await cli.destroy();
        },
      };
    },
    tearDown: async () => database?.drop(),
  };
}

describe.each([sqlite, postgres()])('policy versions in the store on $name', (store) => {
  let dir: string;
  let server: { db: Db };
  let cli: { db: Db };
  let changes: () => number;
  let connections: Connections;
  let file: string;

  beforeAll(() => store.setUp());
  afterAll(() => store.tearDown());

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'poort-policy-'));
    connections = await store.open(dir);
    server = { db: connections.server };
    cli = { db: connections.cli };
    changes = connections.changes;
    file = path.join(dir, 'policies.yaml');
    fs.writeFileSync(file, ISSUE_EXAMPLE);
  });

  afterEach(async () => {
    await connections.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('numbers versions from 1 and keeps who, when, what and the text as given', async () => {
    const store = new PolicyStore(cli.db);
    expect(await store.latest()).toBeUndefined();
    const first = await store.add(
      { text: '# comments stay\ndefault: allow\n', createdBy: 'alice', summary: 'initial' },
      new Date('2026-06-15T10:00:00Z'),
    );
    const second = await store.add({ text: DENY_ALL, createdBy: 'bob', summary: 'default: allow → deny' });
    expect(first).toEqual({
      version: 1,
      text: '# comments stay\ndefault: allow\n',
      createdAt: '2026-06-15T10:00:00.000Z',
      createdBy: 'alice',
      summary: 'initial',
    });
    expect(second.version).toBe(2);
    expect((await store.latest())?.version).toBe(2);
    expect((await store.get(1))?.text).toBe('# comments stay\ndefault: allow\n');
    expect(await store.get(3)).toBeUndefined();
    expect((await store.list()).map((v) => [v.version, v.createdBy, v.summary])).toEqual([
      [1, 'alice', 'initial'],
      [2, 'bob', 'default: allow → deny'],
    ]);
  });

  it('uses the policy file until a version is stored, then the newest version', async () => {
    const provider = new PolicyProvider({ db: server.db, file, changes });
    const fromFile = await provider.active();
    expect(fromFile).toMatchObject({ version: null, source: file, text: ISSUE_EXAMPLE });
    expect(fromFile.compiled.rules).toHaveLength(5);

    await new PolicyStore(cli.db).add({ text: DENY_ALL, createdBy: 'alice', summary: 's' });
    const stored = await provider.active();
    expect(stored).toMatchObject({ version: 1, source: 'version 1', text: DENY_ALL });
    expect(stored.compiled.default).toEqual({ kind: 'deny' });
  });

  it('sees versions stored by its own process', async () => {
    const provider = new PolicyProvider({ db: server.db, file, changes });
    expect((await provider.active()).version).toBeNull();
    await new PolicyStore(server.db).add({ text: DENY_ALL, createdBy: 'admin', summary: 's' });
    expect((await provider.active()).version).toBe(1);
  });

  it('picks up an edited policy file while no version is stored', async () => {
    const provider = new PolicyProvider({ db: server.db, file, changes });
    expect((await provider.current()).rules).toHaveLength(5);
    fs.writeFileSync(file, DENY_ALL);
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect((await provider.current()).default).toEqual({ kind: 'deny' });
  });

  it('keeps the policy in force when a newer one cannot be used, and says so', async () => {
    const errors: Array<{ err: unknown; keeping: ActivePolicy }> = [];
    const provider = new PolicyProvider({
      db: server.db,
      file,
      changes,
      onError: (err, keeping) => errors.push({ err, keeping }),
    });
    await new PolicyStore(cli.db).add({ text: DENY_ALL, createdBy: 'alice', summary: 's' });
    expect((await provider.active()).version).toBe(1);
    // written around `poort policy set`, which would have refused it
    await new PolicyStore(cli.db).add({ text: 'rules: [ { id: x } ]\n', createdBy: 'mallory', summary: 's' });
    const active = await provider.active();
    expect(active.version).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.err).toBeInstanceOf(PolicyError);
    expect(String(errors[0]!.err)).toContain('policy version 2: rules[0] (id "x"): when: missing');
    expect(errors[0]!.keeping.version).toBe(1);
    // and does not try again until something changes (on PostgreSQL the counter moves with time instead)
    if (store.countsCommits) {
      await provider.active();
      expect(errors).toHaveLength(1);
    }
  });

  it('fails when there is no usable policy at all', async () => {
    fs.writeFileSync(file, 'default: perhaps\n');
    const provider = new PolicyProvider({ db: server.db, file, changes });
    await expect(provider.current()).rejects.toThrow(`${file}: default: expected allow, deny`);
    fs.rmSync(file);
    await expect(provider.current()).rejects.toThrow('cannot read the policy file: ENOENT');
  });

  it('finds the policy file: policies.file next to the configuration, else the shipped one', () => {
    expect(policyFile({ config: { policies: {} }, configFile: '/etc/poort/poort.yaml' })).toBe(
      defaultPolicyFile,
    );
    expect(
      policyFile({ config: { policies: { file: 'policies.yaml' } }, configFile: '/etc/poort/poort.yaml' }),
    ).toBe('/etc/poort/policies.yaml');
    expect(
      policyFile({ config: { policies: { file: '/srv/p.yaml' } }, configFile: '/etc/poort/poort.yaml' }),
    ).toBe('/srv/p.yaml');
    expect(fs.existsSync(defaultPolicyFile)).toBe(true);
  });
});

describe('policy versions in the store on SQLite: change detection', () => {
  let dir: string;
  let server: { db: Db };
  let cli: { db: Db };
  let file: string;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'poort-policy-'));
    file = path.join(dir, 'policies.yaml');
    fs.writeFileSync(file, ISSUE_EXAMPLE);
    server = await openDurableSqlite(dir);
    cli = await openDurableSqlite(dir);
  });
  afterEach(async () => {
    await server.db.destroy();
    await cli.db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // SQLite's data_version (the provider's default) moves only when another connection commits
  it('reads the store again only when another connection committed', async () => {
    const provider = new PolicyProvider({ db: server.db, file });
    await new PolicyStore(cli.db).add({ text: DENY_ALL, createdBy: 'alice', summary: 's' });
    const first = await provider.current();
    expect(await provider.current()).toBe(first);
    expect(await provider.current()).toBe(first);
    await new PolicyStore(cli.db).add({ text: ISSUE_EXAMPLE, createdBy: 'alice', summary: 's' });
    const second = await provider.current();
    expect(second).not.toBe(first);
    expect(second.rules).toHaveLength(5);
    expect(await provider.current()).toBe(second);
  });
});
