import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ldapConfigSchema } from '../../../src/directory/ldap/config.js';
import type { PasswordCheck } from '../../../src/directory/ldap/gateway.js';
import { MAX_NESTING, withParentGroups, type GroupRef } from '../../../src/directory/ldap/nesting.js';
import { ldapSettings } from '../../../src/directory/ldap/settings.js';
import { BASE_DN, gatewayTo, GROUPS, PEOPLE, startSlapd, type Slapd } from '../../helpers/slapd.js';

const ref = (name: string): GroupRef => ({ dn: `cn=${name},${GROUPS}`, name });

describe('withParentGroups', () => {
  /** parents by child name; records what it was asked */
  const graph = (edges: Record<string, string[]>) => {
    const asked: string[][] = [];
    const parentsOf = async (level: GroupRef[]) => {
      asked.push(level.map((g) => g.name!));
      return level.flatMap((g) => (edges[g.name!] ?? []).map(ref));
    };
    return { asked, parentsOf };
  };

  it('follows every level up, asking about each group once, through cycles and several paths', async () => {
    const { asked, parentsOf } = graph({
      teachers: ['staff', 'everyone'],
      staff: ['everyone'],
      everyone: ['teachers'],
      mentors: ['staff'],
    });
    const nested = await withParentGroups([ref('teachers'), ref('mentors')], parentsOf);
    expect(nested.truncated).toBe(false);
    expect(nested.groups.map((g) => g.name).sort()).toEqual(['everyone', 'mentors', 'staff', 'teachers']);
    expect(asked).toEqual([
      ['teachers', 'mentors'],
      ['staff', 'everyone'],
    ]);
  });

  it(`stops ${MAX_NESTING} levels above the user's own groups, and says when there was more`, async () => {
    const chain = (length: number) =>
      graph(Object.fromEntries(Array.from({ length }, (_, i) => [`g${i}`, [`g${i + 1}`]])));
    const long = await withParentGroups([ref('g0')], chain(MAX_NESTING + 1).parentsOf);
    expect(long.groups.map((g) => g.name)).toEqual(
      Array.from({ length: MAX_NESTING + 1 }, (_, i) => `g${i}`),
    );
    expect(long.truncated).toBe(true);
    // exactly as deep as allowed: everything, and nothing left out
    const exact = await withParentGroups([ref('g0')], chain(MAX_NESTING).parentsOf);
    expect(exact.groups).toHaveLength(MAX_NESTING + 1);
    expect(exact.truncated).toBe(false);
  });

  it('asks nothing for a user in no group', async () => {
    const { asked, parentsOf } = graph({});
    expect(await withParentGroups([], parentsOf)).toEqual({ groups: [], truncated: false });
    expect(asked).toEqual([]);
  });
});

describe('nested groups in a real directory', () => {
  let slapd: Slapd;
  const warnings: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        warnings.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );

  beforeAll(async () => {
    slapd = await startSlapd();
  });
  afterAll(async () => slapd?.stop());

  const gateway = (settings: Record<string, unknown>, groups: Record<string, unknown>) =>
    gatewayTo(slapd, { ...settings, groups: { base_dn: GROUPS, ...groups } }, log);

  const groupsOf = (check: PasswordCheck) => (check.kind === 'ok' ? check.groups : check);

  it('OpenLDAP groups of groups (member): every group above, through a cycle; not without nested', async () => {
    const dn = await slapd.addPerson({
      uid: 'els',
      password: 'els-directory-password',
      mail: 'els@school.example',
    });
    const other = await slapd.addPerson({
      uid: 'tom',
      password: 'tom-directory-password',
      mail: 't@school.example',
    });
    const teachers = await slapd.addGroup('Teachers', [dn]);
    const staff = await slapd.addGroup('Staff', [teachers]);
    const everyone = await slapd.addGroup('Everyone', [staff, teachers]);
    await slapd.replace(teachers, 'member', [dn, everyone]);
    await slapd.addGroup('Unrelated', [other]);
    const all = ['Everyone', 'Staff', 'Teachers'];

    const nested = gateway({}, { nested: true });
    const check = await nested.checkPassword('els', 'els-directory-password');
    expect(groupsOf(check)).toEqual(all);
    const flat = gateway({}, {});
    expect(groupsOf(await flat.checkPassword('els', 'els-directory-password'))).toEqual(['Teachers']);

    // the sync reads every group once and follows the nesting for each user
    const { profiles } = await nested.allUsers();
    const byUid = (uid: string) => profiles.find((p) => p.uid === uid)!;
    const synced = await nested.groupsOfAll([byUid('els'), byUid('tom')]);
    expect(synced.get(byUid('els').externalId)).toEqual(all);
    expect(synced.get(byUid('tom').externalId)).toEqual(['Unrelated']);
    expect((await flat.groupsOfAll([byUid('els')])).get(byUid('els').externalId)).toEqual(['Teachers']);
  });

  it('Active Directory groups of groups (memberOf of each group): outside groups.base_dn followed, not counted', async () => {
    const everyone = await slapd.addAdGroup('Iedereen');
    // in another OU: not under groups.base_dn, so not one of the user's groups, but its own groups count
    const personnel = await slapd.addAdGroup('Personeel', { ou: 'services', memberOf: [everyone] });
    const teachers = await slapd.addAdGroup('Docenten', { memberOf: [personnel.toUpperCase()] });
    await slapd.replace(everyone, 'memberOf', [teachers]);
    await slapd.addAdUser({
      sAMAccountName: 'MBakker',
      password: 'mieke-ad-password',
      mail: 'mieke@school.example',
      // a group that is not there (or not visible to the service account) ends its chain
      memberOf: [teachers, `CN=Verdwenen,OU=other,${BASE_DN}`],
    });
    const ad = { type: 'active_directory', users: { base_dn: PEOPLE, filter: '(objectClass=user)' } };

    const nested = gateway(ad, { nested: true });
    expect(groupsOf(await nested.checkPassword('mbakker', 'mieke-ad-password'))).toEqual([
      'Docenten',
      'Iedereen',
    ]);
    const flat = gateway(ad, {});
    expect(groupsOf(await flat.checkPassword('mbakker', 'mieke-ad-password'))).toEqual(['Docenten']);

    const { profiles } = await nested.allUsers();
    const mieke = profiles.find((p) => p.uid === 'MBakker')!;
    expect((await nested.groupsOfAll([mieke])).get(mieke.externalId)).toEqual(['Docenten', 'Iedereen']);
  });

  it(`gives the groups up to ${MAX_NESTING} levels above the user's own, and warns of a deeper chain`, async () => {
    const dn = await slapd.addPerson({
      uid: 'deep',
      password: 'deep-directory-password',
      mail: 'd@school.example',
    });
    let member = dn;
    for (let i = 0; i <= MAX_NESTING + 1; i++) member = await slapd.addGroup(`Level${i}`, [member]);
    warnings.length = 0;
    const check = await gateway({}, { nested: true }).checkPassword('deep', 'deep-directory-password');
    expect(groupsOf(check)).toEqual(Array.from({ length: MAX_NESTING + 1 }, (_, i) => `Level${i}`).sort());
    expect(warnings).toEqual([
      expect.objectContaining({
        dn,
        max_levels: MAX_NESTING,
        msg: expect.stringContaining('nested deeper than Poort follows') as unknown,
      }),
    ]);
  });
});

describe('groups.nested in the configuration', () => {
  const base = { url: 'ldap://127.0.0.1:1', users: { base_dn: PEOPLE } };
  const problems = (groups: Record<string, unknown>) => {
    const parsed = ldapConfigSchema.safeParse({ ...base, groups: { base_dn: GROUPS, ...groups } });
    return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('is refused where it cannot work, saying why', () => {
    expect(problems({ nested: true })).toEqual([]);
    expect(problems({ nested: true, membership: 'none' })).toEqual([
      'groups.nested: nested groups need groups from the directory (groups.membership: search or member_of)',
    ]);
    expect(problems({ nested: true, member_attribute: 'memberUid', member_value: 'username' })).toEqual([
      'groups.nested: nested groups need member_value: dn (a group is listed in another by its DN, not by a username)',
    ]);
    expect(problems({ nested: 'yes' })).toEqual([expect.stringMatching(/^groups\.nested: /)]);
  });

  it('defaults to off', () => {
    const settings = ldapSettings(ldapConfigSchema.parse({ ...base, groups: { base_dn: GROUPS } }));
    expect(settings.groups.nested).toBe(false);
  });
});
