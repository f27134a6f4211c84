import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupRepository } from '../../src/directory/groups.js';
import { UserRepository } from '../../src/directory/users.js';
import type { Db } from '../../src/store/database.js';
import { openTestDurableStore, testBackend } from '../helpers/backend.js';
import { tempDir } from '../helpers/poort.js';

// Look-ups read a user and the names of their groups in one query: a row per membership, folded back into one user.
describe(`user look-ups with their groups (${testBackend})`, () => {
  let dir: string;
  let db: Db;
  let users: UserRepository;
  let groups: GroupRepository;
  let caroId: string;

  beforeAll(async () => {
    dir = tempDir('poort-users-');
    db = await openTestDurableStore(dir);
    users = new UserRepository(db);
    groups = new GroupRepository(db);
    caroId = (await users.create({ username: 'caro', email: 'caro@example.org', passwordHash: 'not-a-hash' }))
      .id;
    await users.create({ username: 'dirk', email: 'dirk@example.org' });
    for (const name of ['staff', 'payroll', 'admins']) {
      await groups.create(name);
      await groups.addMember(name, caroId);
    }
  });
  afterAll(async () => {
    await db?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives every group once, in name order, by id, by username and with the credentials', async () => {
    const byId = await users.findById(caroId);
    expect(byId).toMatchObject({
      username: 'caro',
      groups: ['admins', 'payroll', 'staff'],
      hasPassword: true,
    });
    expect(await users.findByUsername('CARO')).toEqual(byId);
    const credentials = await users.findCredentials('caro');
    expect(credentials).toMatchObject({
      id: caroId,
      password_hash: 'not-a-hash',
      groups: ['admins', 'payroll', 'staff'],
    });
    expect(credentials).not.toHaveProperty('group_name');
    expect(await users.groupsOf(caroId)).toEqual(byId!.groups);
  });

  it('gives a user without groups an empty list, and nothing for an unknown user', async () => {
    expect(await users.findByUsername('dirk')).toMatchObject({
      username: 'dirk',
      groups: [],
      hasPassword: false,
    });
    expect((await users.findCredentials('dirk'))?.groups).toEqual([]);
    expect(await users.findById('00000000-0000-4000-8000-000000000000')).toBeUndefined();
    expect(await users.findCredentials('nobody')).toBeUndefined();
  });
});
