import argon2 from 'argon2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../helpers/cli.js';

const PASSWORD = 'correct horse battery';

// Consecutive concurrent tests run side by side (they touch different users or only read); a plain test between them
// waits for the ones before it.
// Each test runs the CLI several times; allow for a slow, busy machine.
describe('poort user', { timeout: 60_000 }, () => {
  let box: Sandbox;
  const hashOf = async (username: string) =>
    (
      await box.withDb((db) =>
        db.selectFrom('users').select('password_hash').where('username', '=', username).executeTakeFirst(),
      )
    )?.password_hash;

  beforeAll(() => {
    box = createSandbox();
  });
  afterAll(() => box.remove());

  it('adds a user with a password from stdin, hashed with argon2id; the newline is not part of it', async () => {
    const result = await box.run(
      ['user', 'add', 'Alice', '--email', 'alice@example.org', '--name', 'Alice Adams', '--password-stdin'],
      { input: `${PASSWORD}\n` },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Added user alice');
    expect(result.stdout).not.toContain(PASSWORD);
    const hash = (await hashOf('alice'))!;
    // argon2id with the configured cost (OWASP: 19 MiB, 2 iterations, 1 lane). node-argon2 writes the parameters
    // as m,p,t rather than libargon2's m,t,p; both are valid PHC strings, so compare them as a set.
    const [, id, v, params] = hash.split('$');
    expect([id, v]).toEqual(['argon2id', 'v=19']);
    expect(Object.fromEntries(params!.split(',').map((p) => p.split('=')))).toEqual({
      m: '19456',
      t: '2',
      p: '1',
    });
    expect(await argon2.verify(hash, PASSWORD)).toBe(true);
    expect(await argon2.verify(hash, `${PASSWORD}\n`)).toBe(false);
  });

  it.concurrent(
    'strips \\r\\n too, reads only the first line, and keeps inner spaces',
    async ({ expect }) => {
      const result = await box.run(
        ['user', 'add', 'carol', '--email', 'carol@example.org', '--password-stdin'],
        {
          input: ` ${PASSWORD} \r\nsecond line\n`,
        },
      );
      expect(result.code).toBe(0);
      const hash = (await hashOf('carol'))!;
      expect(await argon2.verify(hash, ` ${PASSWORD} `)).toBe(true);
      expect(await argon2.verify(hash, ` ${PASSWORD} \r`)).toBe(false);
    },
  );

  it.concurrent.for([
    ['too short', 'Tr0ub4dor&3', ['at least 12 characters']],
    ['common', 'password1234', ['list of common passwords']],
    ['containing the username', 'xx-dave-is-great-xx', ['must not contain the username']],
    [
      'short and containing the username',
      'dave',
      ['at least 12 characters', 'must not contain the username'],
    ],
    ['empty', '', ['no password on standard input']],
  ] as const)(
    'refuses a password that is %s, with every reason, and adds no user',
    async ([, password, reasons], { expect }) => {
      const result = await box.run(
        ['user', 'add', 'dave', '--email', 'dave@example.org', '--password-stdin'],
        {
          input: `${password}\n`,
        },
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^poort: /);
      for (const reason of reasons) expect(result.stderr).toContain(reason);
      if (password.length > 4) expect(result.stderr).not.toContain(password);
      expect(result.stdout).toBe('');
      expect(await hashOf('dave')).toBeUndefined();
    },
  );

  it.concurrent('refuses a duplicate user (case-insensitively)', async ({ expect }) => {
    const result = await box.run(['user', 'add', 'ALICE', '--email', 'other@example.org']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('poort: user alice already exists\n');
  });

  it.concurrent('adds a user without a password, creating missing groups', async ({ expect }) => {
    const result = await box.run([
      'user',
      'add',
      'bob',
      '--email',
      'bob@example.org',
      '--groups',
      'staff, ops',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Created group ops');
    expect(result.stdout).toContain('Created group staff');
    expect(result.stdout).toContain('set-password bob');
    expect(await hashOf('bob')).toBeNull();
  });

  it('lists users as JSON without password hashes', async () => {
    const result = await box.run(['user', 'list', '--json']);
    expect(result.code).toBe(0);
    const users = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
    expect(users.map((u) => u.username)).toEqual(['alice', 'bob', 'carol']);
    expect(users.find((u) => u.username === 'bob')).toMatchObject({
      email: 'bob@example.org',
      hasPassword: false,
      enabled: true,
      groups: ['ops', 'staff'],
    });
    expect(result.stdout).not.toContain('argon2');
  });

  it.concurrent('lists users in aligned columns', async ({ expect }) => {
    const result = await box.run(['user', 'list']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^USERNAME\s+EMAIL\s+NAME\s+ENABLED\s+PASSWORD\s+GROUPS\s+LAST SIGN-IN$/);
    expect(lines).toHaveLength(4);
    const column = lines[0]!.indexOf('EMAIL');
    for (const line of lines.slice(1)) expect(line.slice(column)).toMatch(/^\S+@example\.org/);
  });

  it.concurrent('shows one user, never the hash', async ({ expect }) => {
    const [json, text, missing] = await Promise.all([
      box.run(['user', 'show', 'alice', '--json']),
      box.run(['user', 'show', 'alice']),
      box.run(['user', 'show', 'nobody']),
    ]);
    expect(json.code).toBe(0);
    const user = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(user).toMatchObject({ username: 'alice', name: 'Alice Adams', hasPassword: true });
    expect(Object.keys(user).filter((k) => /hash/i.test(k))).toEqual([]);
    expect(text.stdout).toMatch(/^password:\s+set$/m);
    expect(text.stdout).not.toContain('argon2');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('poort: no user nobody\n');
  });

  it('disables and enables a user', async () => {
    const enabled = () =>
      box.withDb((db) =>
        db.selectFrom('users').select('enabled').where('username', '=', 'alice').executeTakeFirst(),
      );
    const [off, nobody] = await Promise.all([
      box.run(['user', 'disable', 'alice']),
      box.run(['user', 'disable', 'nobody']),
    ]);
    expect(off.code).toBe(0);
    expect(off.stdout).toBe('Disabled user alice\n');
    expect(await enabled()).toEqual({ enabled: 0 });
    expect(nobody.code).toBe(1);
    const on = await box.run(['user', 'enable', 'alice']);
    expect(on.code).toBe(0);
    expect(await enabled()).toEqual({ enabled: 1 });
  });

  it.concurrent('sets a password, with the same policy', async ({ expect }) => {
    const refused = await box.run(['user', 'set-password', 'carol', '--password-stdin'], {
      input: 'carol@example.org!!\n',
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('must not contain the username or e-mail address');
    expect(await argon2.verify((await hashOf('carol'))!, ` ${PASSWORD} `)).toBe(true);
    const result = await box.run(['user', 'set-password', 'carol', '--password-stdin'], {
      input: 'a new long passphrase\n',
    });
    expect(result.code).toBe(0);
    expect(await argon2.verify((await hashOf('carol'))!, 'a new long passphrase')).toBe(true);
  });

  it.concurrent('updates the e-mail address and name', async ({ expect }) => {
    const [result, bad] = await Promise.all([
      box.run(['user', 'update', 'bob', '--email', 'robert@example.org', '--name', 'Robert']),
      box.run(['user', 'update', 'bob', '--email', 'not-an-address']),
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^email:\s+robert@example\.org$/m);
    expect(result.stdout).toMatch(/^name:\s+Robert$/m);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('is not an e-mail address');
  });
});
