import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupRepository } from '../../src/directory/groups.js';
import { LocalDirectory } from '../../src/directory/local.js';
import { PasswordHasher } from '../../src/directory/password-hash.js';
import { UserRepository } from '../../src/directory/users.js';
import { openDurableStore, type Db } from '../../src/store/database.js';
import { tempDir } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
/** The shipped argon2id parameters: the timing test is about them. */
const PRODUCTION_ARGON2 = { memory_kib: 19456, iterations: 2, parallelism: 1 };

describe('the local directory', () => {
  let dir: string;
  let db: Db;
  let users: UserRepository;
  let hasher: PasswordHasher;
  let directory: LocalDirectory;
  let annaId: string;

  beforeAll(async () => {
    dir = tempDir('poort-directory-');
    db = await openDurableStore(dir);
    users = new UserRepository(db);
    hasher = new PasswordHasher(PRODUCTION_ARGON2);
    directory = new LocalDirectory(users, hasher);
    const groups = new GroupRepository(db);
    annaId = (
      await users.create({
        username: 'Anna',
        email: 'anna@example.org',
        name: 'Anna de Vries',
        passwordHash: await hasher.hash(PASSWORD),
      })
    ).id;
    await groups.create('staff');
    await groups.addMember('staff', annaId);
    await users.create({
      username: 'bert',
      email: 'bert@example.org',
      passwordHash: await hasher.hash(PASSWORD),
    });
    await users.setEnabled('bert', false);
    await users.create({ username: 'carla', email: 'carla@example.org' });
  });
  afterAll(async () => {
    await db?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('accepts the right password, whatever the case and spacing of the username', async () => {
    for (const name of ['anna', 'ANNA', '  Anna ']) {
      const result = await directory.authenticate(name, PASSWORD);
      expect(result).toMatchObject({
        ok: true,
        identity: {
          id: annaId,
          username: 'anna',
          email: 'anna@example.org',
          name: 'Anna de Vries',
          groups: ['staff'],
        },
      });
    }
  });

  it('refuses with the same code whatever the reason, keeping the reason for the audit trail', async () => {
    const bert = await users.findByUsername('bert');
    const carla = await users.findByUsername('carla');
    expect(await directory.authenticate('anna', 'wrong password')).toEqual({
      ok: false,
      code: 'invalid_credentials',
      reason: 'wrong_password',
      userId: annaId,
    });
    expect(await directory.authenticate('nobody', PASSWORD)).toEqual({
      ok: false,
      code: 'invalid_credentials',
      reason: 'unknown_user',
    });
    expect(await directory.authenticate('bert', PASSWORD)).toEqual({
      ok: false,
      code: 'invalid_credentials',
      reason: 'disabled',
      userId: bert!.id,
    });
    expect(await directory.authenticate('carla', PASSWORD)).toEqual({
      ok: false,
      code: 'invalid_credentials',
      reason: 'no_password',
      userId: carla!.id,
    });
    expect(await directory.authenticate('', '')).toMatchObject({
      ok: false,
      code: 'invalid_credentials',
      reason: 'unknown_user',
    });
  });

  it('does not find disabled users for the protocols', async () => {
    expect(await directory.lookup('anna')).toMatchObject({ id: annaId });
    expect(await directory.findById(annaId)).toMatchObject({ username: 'anna' });
    expect(await directory.lookup('bert')).toBeUndefined();
    expect(await directory.findById((await users.findByUsername('bert'))!.id)).toBeUndefined();
  });

  it('upgrades a hash made with older parameters after a successful sign-in', async () => {
    const weak = new PasswordHasher({ memory_kib: 8192, iterations: 1, parallelism: 1 });
    const dora = await users.create({
      username: 'dora',
      email: 'dora@example.org',
      passwordHash: await weak.hash(PASSWORD),
    });
    const result = await directory.authenticate('dora', PASSWORD);
    expect(result.ok && result.rehash).toBeTypeOf('function');
    if (result.ok) await result.rehash!();
    const row = await users.findCredentials('dora');
    expect(row!.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,/);
    expect(hasher.needsRehash(row!.password_hash!)).toBe(false);
    expect(await directory.authenticate('dora', PASSWORD)).toMatchObject({
      ok: true,
      identity: { id: dora.id },
    });
    expect((await directory.authenticate('anna', PASSWORD)) as { rehash?: unknown }).toMatchObject({
      rehash: undefined,
    });
  });

  it('takes as long for an unknown user as for a known user with a wrong password', async () => {
    const time = async (username: string) => {
      const start = process.hrtime.bigint();
      await directory.authenticate(username, 'not the password');
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    // Warm up: the first unknown user also makes the dummy hash.
    await time('nobody');
    await time('anna');
    // A leak (an unknown user skipping argon2) shows in every round; a pause of the machine in one round does not.
    const rounds: string[] = [];
    for (let round = 0; round < 3; round++) {
      const unknown: number[] = [];
      const known: number[] = [];
      // Interleaved, so load from parallel test files weighs on both alike.
      for (let i = 0; i < 10; i++) {
        unknown.push(await time(`nobody-${i}`));
        known.push(await time('anna'));
      }
      const ratio = mean(unknown) / mean(known);
      rounds.push(
        `unknown ${mean(unknown).toFixed(1)} ms / known ${mean(known).toFixed(1)} ms = ${ratio.toFixed(2)}`,
      );
      if (ratio > 0.7 && ratio < 1.3) return;
    }
    expect.fail(`the mean times differ by more than 30% in every round:\n${rounds.join('\n')}`);
  });
});
