import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../helpers/cli.js';

interface Group {
  name: string;
  members: string[];
}

// Each test runs the CLI several times; allow for a slow, busy machine.
describe('poort group', { timeout: 60_000 }, () => {
  let box: Sandbox;
  const groups = async () => JSON.parse((await box.run(['group', 'list', '--json'])).stdout) as Group[];

  beforeAll(async () => {
    box = createSandbox();
    expect((await box.run(['user', 'add', 'alice', '--email', 'alice@example.org'])).code).toBe(0);
  });
  afterAll(() => box.remove());

  it('adds a group and refuses a duplicate', async () => {
    const result = await box.run(['group', 'add', 'admins']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('Added group admins\n');
    const again = await box.run(['group', 'add', 'admins']);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('poort: group admins already exists\n');
  });

  it('adds and removes members', async () => {
    const added = await box.run(['group', 'add-member', 'admins', 'Alice']);
    expect(added.code).toBe(0);
    expect(added.stdout).toBe('Added alice to admins\n');
    const [list, user, twice] = await Promise.all([
      groups(),
      box.run(['user', 'show', 'alice', '--json']),
      box.run(['group', 'add-member', 'admins', 'alice']),
    ]);
    expect(list).toEqual([expect.objectContaining({ name: 'admins', members: ['alice'] })]);
    expect((JSON.parse(user.stdout) as { groups: string[] }).groups).toEqual(['admins']);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toBe('alice is already a member of admins\n');

    const removed = await box.run(['group', 'remove-member', 'admins', 'alice']);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toBe('Removed alice from admins\n');
    expect((await groups())[0]!.members).toEqual([]);
  });

  it('names a missing group or user', async () => {
    const [noGroup, noUser] = await Promise.all([
      box.run(['group', 'add-member', 'nope', 'alice']),
      box.run(['group', 'remove-member', 'admins', 'nobody']),
    ]);
    expect(noGroup.code).toBe(1);
    expect(noGroup.stderr).toBe('poort: no group nope\n');
    expect(noUser.code).toBe(1);
    expect(noUser.stderr).toBe('poort: no user nobody\n');
  });

  it('refuses to remove a group the sign-in policy in force names, saying which rules', async () => {
    expect((await box.run(['group', 'add', 'finance'])).code).toBe(0);
    const file = path.join(box.dir, 'policy.yaml');
    fs.writeFileSync(
      file,
      'rules:\n  - { id: finance-mfa, when: { groups: [finance] }, then: { mfa: { strength: any } } }\n  - { id: office-only, when: { country: { in: [kp] } }, unless: { groups: [finance] }, then: deny }\n',
    );
    expect((await box.run(['policy', 'set', '--file', file])).code).toBe(0);
    const refused = await box.run(['group', 'remove', 'finance']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'poort: group finance is named by rules finance-mfa, office-only of the sign-in policy in force (version 1): change the policy first\n',
    );
    expect((await groups()).map((g) => g.name)).toContain('finance');
    fs.writeFileSync(file, 'rules: []\n');
    expect((await box.run(['policy', 'set', '--file', file])).code).toBe(0);
    expect((await box.run(['group', 'remove', 'finance'])).code).toBe(0);
  });

  it('removes a group with its memberships; the members stay', async () => {
    expect((await box.run(['group', 'add', 'temps'])).code).toBe(0);
    expect((await box.run(['group', 'add-member', 'temps', 'alice'])).code).toBe(0);
    const removed = await box.run(['group', 'remove', 'temps']);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toBe('Removed group temps; it had 1 member(s): alice\n');
    expect((await groups()).map((g) => g.name)).not.toContain('temps');
    const alice = JSON.parse((await box.run(['user', 'show', 'alice', '--json'])).stdout) as {
      groups: string[];
    };
    expect(alice.groups).not.toContain('temps');
    const memberships = await box.withDb((db) => db.selectFrom('memberships').selectAll().execute());
    expect(memberships).toEqual([]);
    const again = await box.run(['group', 'remove', 'temps']);
    expect([again.code, again.stderr]).toEqual([1, 'poort: no group temps\n']);
    const events = await box.withDb((db) =>
      db
        .selectFrom('audit_events')
        .select('event')
        .where('action', '=', 'group.changed')
        .orderBy('seq')
        .execute(),
    );
    expect(
      events.map((e) => JSON.parse(e.event) as { details: Record<string, unknown> }).at(-1)!.details,
    ).toEqual({
      group: 'temps',
      change: 'removed',
      members: ['alice'],
    });
  });

  it('lists groups in columns', async () => {
    await box.run(['group', 'add-member', 'admins', 'alice']);
    const result = await box.run(['group', 'list']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('NAME    MEMBERS\nadmins  alice\n');
  });
});
