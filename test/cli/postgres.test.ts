import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type CliResult, type Sandbox } from '../helpers/cli.js';
import { FAST_ARGON2 } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { ISSUE_EXAMPLE } from '../policy/fixture.js';

const PASSWORD = 'correct horse battery';
const SECRET = 'wiki-s3cret-that-is-long-enough';
const FINGERPRINT = 'ab'.repeat(32);

// The CLI against a poort.yaml with `storage.durable: postgres`, next to a server on the same database (sharing its
// keys folder, as every node and the CLI do), so both append to one audit chain.
describe('poort on PostgreSQL', { timeout: 120_000 }, () => {
  let database: TestDatabase;
  let poort: TestPoort;
  let box: Sandbox;
  let client: pg.Client;

  const run = (args: string[], input?: string) =>
    box.run(args, { input, env: { POORT_KEYS_DIR: path.join(poort.dir, 'keys') } });
  const ok = (result: CliResult) => {
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return result;
  };
  const actions = async () =>
    (await client.query<{ action: string }>('SELECT action FROM audit_events ORDER BY seq')).rows.map(
      (r) => r.action,
    );
  const verify = async () => {
    const result = ok(await run(['audit', 'verify', '--json']));
    return JSON.parse(result.stdout) as { ok: boolean; events: number };
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    const storage = `storage: { durable: postgres, database_url: '${database.url}' }\n`;
    poort = await startPoort(FAST_ARGON2 + storage);
    box = createSandbox();
    fs.writeFileSync(path.join(box.dir, 'poort.yaml'), FAST_ARGON2 + storage);
    fs.writeFileSync(path.join(box.dir, 'issue.yaml'), ISSUE_EXAMPLE);
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    box?.remove();
    await poort?.stop();
    await database?.drop();
  });

  it('adds, disables and enables a user, each change with its event in PostgreSQL', async () => {
    ok(
      await run(
        ['user', 'add', 'Alice', '--email', 'alice@example.org', '--password-stdin'],
        `${PASSWORD}\n`,
      ),
    );
    ok(await run(['user', 'disable', 'alice']));
    const { rows } = await client.query<{ enabled: number }>(
      "SELECT enabled FROM users WHERE username = 'alice'",
    );
    expect(rows[0]!.enabled).toBe(0);
    ok(await run(['user', 'enable', 'alice']));
    expect(await actions()).toEqual(['user.created', 'user.disabled', 'user.enabled']);
    // the server reads what the CLI wrote
    expect((await poort.services.users.findByUsername('alice'))?.enabled).toBe(true);
  });

  it('manages groups, clients, devices, MFA recovery codes, keys and the policy', async () => {
    ok(await run(['group', 'add', 'admins']));
    ok(await run(['group', 'add-member', 'admins', 'alice']));
    ok(
      await run(
        ['client', 'add', 'wiki', '--secret-stdin', '--redirect-uri', 'https://wiki.example.org/cb'],
        `${SECRET}\n`,
      ),
    );
    ok(await run(['client', 'add', 'spa', '--public', '--redirect-uri', 'http://localhost/cb']));
    ok(await run(['client', 'remove', 'spa']));
    ok(await run(['device', 'add', 'laptop 1', '--cert-fingerprint', FINGERPRINT, '--owner', 'alice']));
    ok(await run(['device', 'remove', 'laptop 1']));
    ok(await run(['mfa', 'recovery-codes', 'alice']));
    ok(await run(['keys', 'rotate']));
    ok(await run(['policy', 'set', '--file', 'issue.yaml']));

    const clients = await client.query<{ client_id: string }>('SELECT client_id FROM clients');
    expect(clients.rows.map((r) => r.client_id)).toEqual(['wiki']);
    const members = JSON.parse(ok(await run(['group', 'list', '--json'])).stdout) as Array<{
      name: string;
      members: string[];
    }>;
    expect(members).toEqual([expect.objectContaining({ name: 'admins', members: ['alice'] })]);
    expect((await client.query('SELECT 1 FROM policy_versions')).rowCount).toBe(1);
    expect((await actions()).slice(3)).toEqual([
      'group.changed',
      'group.changed',
      'client.created',
      'client.created',
      'client.removed',
      'device.added',
      'device.removed',
      'mfa.recovery_codes.generated',
      'keys.rotated',
      'policy.changed',
    ]);
    expect(await verify()).toMatchObject({ ok: true, events: 13 });
  });

  it('keeps the chain linear while a server on the same database appends at the same time', async () => {
    const before = (await actions()).length;
    const names = ['bob', 'carol', 'dave'];
    let appending = true;
    let serverEvents = 0;
    const server = (async () => {
      while (appending) {
        // several appends in flight at once, so the server commits them in groups
        await Promise.all(
          Array.from({ length: 5 }, () =>
            poort.services.audit.append({
              action: 'signin.denied',
              outcome: 'failure',
              actor: { type: 'user' },
              subject: { username: 'load', known: false },
            }),
          ),
        );
        serverEvents += 5;
      }
    })();
    try {
      const results = await Promise.all([
        ...names.map((name) => run(['user', 'add', name, '--email', `${name}@example.org`])),
        run(['group', 'add', 'staff']),
        run(['client', 'add', 'intranet', '--public', '--redirect-uri', 'http://localhost/cb']),
      ]);
      for (const result of results) ok(result);
      const more = await Promise.all([
        ...names.map((name) => run(['group', 'add-member', 'staff', name])),
        ...names.map((name) => run(['user', 'disable', name])),
      ]);
      for (const result of more) ok(result);
    } finally {
      appending = false;
      await server;
    }
    expect(serverEvents).toBeGreaterThan(0);
    const all = await actions();
    const added = all.slice(before);
    expect(added.filter((a) => a === 'signin.denied')).toHaveLength(serverEvents);
    expect(added.filter((a) => a === 'user.created')).toHaveLength(names.length);
    expect(added.filter((a) => a === 'user.disabled')).toHaveLength(names.length);
    expect(added.filter((a) => a === 'group.changed')).toHaveLength(names.length + 1);
    expect(added.filter((a) => a === 'client.created')).toHaveLength(1);
    // the server's checkpoint too, so verify checks a signature made by another process
    expect(await poort.services.audit.checkpoint()).toBeDefined();
    expect(await verify()).toMatchObject({ ok: true, events: all.length });
  });

  it('fails closed: when the event cannot be stored, the change does not happen either', async () => {
    await client.query(`
      CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit storage refused'; END $$;
      CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit();`);
    try {
      const [addUser, disable] = await Promise.all([
        run(['user', 'add', 'mallory', '--email', 'mallory@example.org']),
        run(['user', 'disable', 'alice']),
      ]);
      for (const result of [addUser, disable]) {
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/^poort: .*audit trail/);
        expect(result.stderr).not.toMatch(/\n\s+at /);
      }
    } finally {
      await client.query('DROP TRIGGER refuse_audit ON audit_events; DROP FUNCTION refuse_audit();');
    }
    expect((await client.query("SELECT 1 FROM users WHERE username = 'mallory'")).rowCount).toBe(0);
    const alice = await client.query<{ enabled: number }>(
      "SELECT enabled FROM users WHERE username = 'alice'",
    );
    expect(alice.rows[0]!.enabled).toBe(1);
    expect((await verify()).ok).toBe(true);
  });
});
