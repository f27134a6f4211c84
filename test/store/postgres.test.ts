import crypto from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientRepository } from '../../src/clients/clients.js';
import { GroupRepository } from '../../src/directory/groups.js';
import { UserRepository } from '../../src/directory/users.js';
import { FactorRepository } from '../../src/mfa/factors.js';
import type { Db } from '../../src/store/database.js';
import { migrations } from '../../src/store/migrations/index.js';
import { migratePostgres, openDurablePostgres, openPostgres } from '../../src/store/postgres.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

describe('durable store on PostgreSQL', () => {
  let database: TestDatabase;
  const opened: Db[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    for (const db of opened) await db.destroy();
    await database?.drop();
  });

  function open(): Db {
    const db = openPostgres(database.url, { max: 4 });
    opened.push(db);
    return db;
  }

  it('migrates once when two nodes start together, and again finds nothing to do', async () => {
    const a = open();
    const b = open();
    await Promise.all([migratePostgres(a, database.url), migratePostgres(b, database.url)]);
    await migratePostgres(a, database.url);
    const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(a);
    expect(rows.map((r) => r.name)).toEqual(Object.keys(migrations).sort());
    const tables = await a.introspection.getTables();
    expect(tables.map((t) => t.name)).toEqual(
      expect.arrayContaining([
        'users',
        'groups',
        'memberships',
        'clients',
        'audit_events',
        'factors',
        'devices',
      ]),
    );
  });

  it('runs the user, group, client and factor repositories', async () => {
    const db = await openDurablePostgres(database.url, { max: 4 });
    opened.push(db);
    const users = new UserRepository(db);
    const groups = new GroupRepository(db);
    const key = crypto.randomBytes(32);
    const clients = new ClientRepository(db, key);
    const factors = new FactorRepository(db, key);

    const anna = await users.create({ username: 'Anna', email: 'anna@example.org', name: 'Anna de Vries' });
    await users.create({ username: 'bram', email: 'bram@example.org' });
    await expect(users.create({ username: 'anna', email: 'x@example.org' })).rejects.toThrow(/exists/);
    expect(await users.findByUsername('anna')).toMatchObject({
      id: anna.id,
      email: 'anna@example.org',
      enabled: true,
    });
    expect((await users.list()).map((u) => u.username)).toEqual(['anna', 'bram']);

    await groups.create('staff');
    await groups.addMember('staff', anna.id);
    expect(await groups.find('staff')).toMatchObject({ members: ['anna'] });
    expect((await users.findByUsername('anna'))?.groups).toEqual(['staff']);

    await clients.add({
      clientId: 'portal',
      secret: 'a long enough client secret 0123456789',
      redirectUris: ['https://portal.example.org/cb'],
      postLogoutRedirectUris: [],
      grantTypes: ['authorization_code'],
      firstParty: false,
      requirePkce: true,
    });
    const metadata = await clients.metadata('portal');
    expect(metadata).toMatchObject({
      client_id: 'portal',
      client_secret: 'a long enough client secret 0123456789',
      redirect_uris: ['https://portal.example.org/cb'],
    });
    expect(await clients.metadata('nobody')).toBeUndefined();

    const factor = await factors.add({
      userId: anna.id,
      kind: 'totp',
      name: 'phone',
      secret: { seed: 'abc' },
      state: { step: 1 },
    });
    expect((await factors.list(anna.id)).map((f) => f.id)).toEqual([factor.id]);
    expect(await factors.recordUse(factor.id, JSON.stringify({ step: 1 }), { step: 2 })).toBe(true);
    expect(await factors.recordUse(factor.id, JSON.stringify({ step: 1 }), { step: 3 })).toBe(false);
    expect((await factors.withSecret<{ seed: string }>(factor.id))?.secret).toEqual({ seed: 'abc' });
  });
});
