import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refuseInserts } from '../helpers/backend.js';
import { createSandbox, type Sandbox } from '../helpers/cli.js';

const PASSWORD = 'correct horse battery';
const SECRET = 'wiki-s3cret-that-is-long-enough';

interface Row {
  action: string;
  outcome: string;
  event: string;
}

// Each test runs the CLI several times; allow for a slow, busy machine.
describe('changes made with poort are in the audit trail', { timeout: 60_000 }, () => {
  let box: Sandbox;
  const events = (): Promise<Row[]> =>
    box.withDb((db) =>
      db.selectFrom('audit_events').select(['action', 'outcome', 'event']).orderBy('seq').execute(),
    );

  beforeAll(() => {
    box = createSandbox();
  });
  afterAll(() => box.remove());

  it('records every change with the CLI as actor, and never a password or secret', async () => {
    const steps: Array<[string[], string?]> = [
      [
        ['user', 'add', 'alice', '--email', 'alice@example.org', '--groups', 'admins', '--password-stdin'],
        `${PASSWORD}\n`,
      ],
      [['user', 'set-password', 'alice', '--password-stdin'], 'alice-and-more-text\n'],
      [['user', 'set-password', 'alice', '--password-stdin'], 'another long passphrase\n'],
      [['user', 'disable', 'alice']],
      [['group', 'remove-member', 'admins', 'alice']],
      [
        ['client', 'add', 'wiki', '--secret-stdin', '--redirect-uri', 'https://wiki.example.org/cb'],
        `${SECRET}\n`,
      ],
      [['keys', 'rotate']],
    ];
    const codes: Array<number | null> = [];
    for (const [args, input] of steps) codes.push((await box.run(args, { input })).code);
    expect(codes).toEqual([0, 1, 0, 0, 0, 0, 0]);

    const rows = await events();
    expect(rows.map((r) => `${r.action}:${r.outcome}`)).toEqual([
      'user.created:success',
      'group.changed:success',
      'group.changed:success',
      'password.changed:denied',
      'password.changed:success',
      'user.disabled:success',
      'group.changed:success',
      'client.created:success',
      'keys.rotated:success',
    ]);
    const parsed = rows.map((r) => JSON.parse(r.event) as Record<string, unknown>);
    for (const e of parsed) expect(e.actor).toMatchObject({ type: 'cli' });
    expect(parsed[0]).toMatchObject({
      subject: { username: 'alice' },
      details: { password_set: true, groups: ['admins'] },
    });
    expect(parsed[3]).toMatchObject({
      reason: 'password_policy',
      details: { violations: ['contains_user_info'] },
    });
    expect(parsed[6]).toMatchObject({
      subject: { username: 'alice' },
      details: { group: 'admins', change: 'member_removed' },
    });
    expect(parsed[7]).toMatchObject({ application: { id: 'wiki', protocol: 'oidc' } });
    const all = rows.map((r) => r.event).join('\n');
    for (const secret of [PASSWORD, 'alice-and-more-text', 'another long passphrase', SECRET, 'argon2']) {
      expect(all).not.toContain(secret);
    }

    const verify = await box.run(['audit', 'verify']);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
  });

  it('makes no change when the event cannot be stored', async () => {
    const before = (await events()).length;
    const keyFiles = fs.readdirSync(box.keysDir).sort();
    const secrets = fs.readFileSync(path.join(box.keysDir, 'secrets.json'), 'utf8');
    // A stand-in for a full disk or a broken trail: the trail refuses every insert.
    await box.withDb((db, dialect) => refuseInserts(db, dialect, 'audit_events'));
    const [user, group] = await Promise.all([
      box.run(['user', 'add', 'bob', '--email', 'bob@example.org', '--groups', 'new-group']),
      box.run(['group', 'add', 'other-group']),
    ]);
    const rotate = await box.run(['keys', 'rotate']);
    for (const result of [user, group, rotate]) {
      expect(result.code).toBe(1);
      expect(result.stderr).toBe('poort: the audit trail cannot store events\n');
    }
    const names = await box.withDb(async (db) => ({
      users: await db.selectFrom('users').select('username').execute(),
      groups: await db.selectFrom('groups').select('name').execute(),
    }));
    expect(names).toEqual({ users: [{ username: 'alice' }], groups: [{ name: 'admins' }] });
    expect(fs.readdirSync(box.keysDir).sort()).toEqual(keyFiles);
    expect(fs.readFileSync(path.join(box.keysDir, 'secrets.json'), 'utf8')).toBe(secrets); // no new cookie key
    expect(await events()).toHaveLength(before);
  });
});
