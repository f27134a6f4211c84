import fs from 'node:fs';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { AuditEvent } from '../../src/audit/event.js';
import { LdapSyncSchedule } from '../../src/directory/ldap/schedule.js';
import type { LdapSync } from '../../src/directory/ldap/sync.js';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { accountSignIn } from '../helpers/account.js';
import { adminSignIn } from '../helpers/admin.js';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import { runCliOn } from '../helpers/cli.js';
import {
  FAST_ARGON2,
  isPasswordForm,
  passwordSignsIn,
  protocolError,
  relyingParty,
  signIn,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { ldapYaml, PEOPLE, startSlapd, type Slapd } from '../helpers/slapd.js';
import { eventsSince, lastSeq } from '../helpers/trail.js';

const REDIRECT = 'http://127.0.0.1:7777/cb';
const SECRET = 'app-secret-0123456789';
const SCOPE = 'openid profile email groups offline_access';

let slapd: Slapd;
let poort: TestPoort;
let config: oidc.Configuration;
let janDn: string;

beforeAll(async () => {
  slapd = await startSlapd();
  janDn = await slapd.addPerson({
    uid: 'jan',
    password: 'jan-directory-password',
    mail: 'jan@school.example',
    cn: 'Jan de Vries',
    givenName: 'Jan',
    sn: 'de Vries',
  });
  await slapd.addPerson({ uid: 'anna', password: 'anna-directory-password', mail: 'anna@school.example' });
  await slapd.addPerson({ uid: 'nomail', password: 'nomail-directory-password' });
  await slapd.addGroup('Staff', [janDn]);
  await slapd.addGroup('Teachers', [`uid=anna,${PEOPLE}`]);
  // the sync runs when a test asks for it
  poort = await startPoort(`${FAST_ARGON2}${ldapYaml(slapd, '  sync_interval: 0')}\n`);
  await poort.addUser({ username: 'anna', password: 'anna-local-password' });
  await poort.addClient({
    clientId: 'app',
    secret: SECRET,
    redirectUris: [REDIRECT],
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  config = await relyingParty(poort, 'app', SECRET);
  fs.writeFileSync(`${poort.dir}/plain.yaml`, FAST_ARGON2);
});
afterAll(async () => {
  await poort?.stop();
  await slapd?.stop();
});

const byAction = (events: AuditEvent[], action: string) => events.filter((e) => e.action === action);

/** The password form's answer to a name and password, in a browser of its own. */
async function attempt(username: string, password: string): Promise<Page> {
  const browser = new Browser();
  const page = await browser.navigate((await startAuthorization(config, { redirectUri: REDIRECT })).url.href);
  expect(isPasswordForm(page)).toBe(true);
  const form = readForm(page);
  return browser.navigate(form.action, { form: { ...form.fields, username, password } }, REDIRECT);
}

describe('an LDAP user signs in with the directory password', () => {
  it('gets tokens whose claims come from the entry and its groups, and a Poort user made for them, recorded', async () => {
    const seq = await lastSeq(poort);
    const { tokens } = await signIn(
      config,
      new Browser(),
      { username: 'Jan', password: 'jan-directory-password' },
      { redirectUri: REDIRECT, scope: SCOPE },
    );
    const claims = tokens.claims()!;
    const user = (await poort.services.users.findByUsername('jan'))!;
    expect(user).toMatchObject({
      directory: 'ldap',
      hasPassword: false,
      email: 'jan@school.example',
      name: 'Jan de Vries',
      givenName: 'Jan',
      familyName: 'de Vries',
      groups: ['Staff'],
    });
    expect(claims.sub).toBe(user.id);
    const info = await oidc.fetchUserInfo(config, tokens.access_token, user.id);
    expect(info).toMatchObject({
      preferred_username: 'jan',
      email: 'jan@school.example',
      name: 'Jan de Vries',
      groups: ['Staff'],
    });

    const events = await eventsSince(poort, seq);
    expect(byAction(events, 'user.created')).toEqual([
      expect.objectContaining({
        actor: { type: 'system', name: 'ldap' },
        subject: { id: user.id, username: 'jan' },
        details: { directory: 'ldap', dn: janDn, groups: ['Staff'] },
        application: { id: 'app', protocol: 'oidc' },
      }),
    ]);
    expect(byAction(events, 'group.changed').map((e) => e.details)).toEqual([
      { group: 'Staff', change: 'created', via: 'ldap' },
      { group: 'Staff', change: 'member_added', via: 'ldap' },
    ]);
    expect(byAction(events, 'signin.password')).toEqual([
      expect.objectContaining({ outcome: 'success', subject: { id: user.id, username: 'jan', known: true } }),
    ]);
    // nothing of the password anywhere in the trail
    expect(JSON.stringify(events)).not.toContain('jan-directory-password');
  });

  it('answers a wrong password, an unknown name, a filter in the name and an unusable entry alike', async () => {
    const seq = await lastSeq(poort);
    const normalise = (page: Page, username: string) =>
      page.body
        .replace(/\/signin\/[A-Za-z0-9_-]+/g, '/signin/UID')
        .replace(/name="csrf" value="[^"]*"/g, 'name="csrf" value="CSRF"')
        .replaceAll(
          `value="${username.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)}"`,
          'value="USERNAME"',
        )
        .replaceAll(`value="${username}"`, 'value="USERNAME"');
    const cases = [
      ['jan', 'not-the-password'],
      ['nobody', 'not-the-password'],
      ['*', 'jan-directory-password'],
      ['jan)(uid=*', 'jan-directory-password'],
      ['nomail', 'nomail-directory-password'],
    ] as const;
    const pages = [];
    for (const [username, password] of cases) pages.push(await attempt(username, password));
    for (const page of pages) expect(page.status).toBe(401);
    const first = normalise(pages[0]!, 'jan');
    pages.forEach((page, i) => expect(normalise(page, cases[i]![0])).toBe(first));

    const failures = byAction(await eventsSince(poort, seq), 'signin.password');
    expect(failures.map((e) => [e.subject?.username, e.subject?.known, e.details?.failure])).toEqual([
      ['jan', true, 'wrong_password'],
      ['nobody', false, 'unknown_user'],
      ['*', false, 'unknown_user'],
      ['jan)(uid=*', false, 'unknown_user'],
      // in the directory, but without the address a Poort user needs
      ['nomail', true, 'directory_conflict'],
    ]);
  });

  it('keeps a local user of the same name local: the directory password does not sign them in', async () => {
    expect(
      await passwordSignsIn(config, REDIRECT, { username: 'anna', password: 'anna-directory-password' }),
    ).toBe(false);
    expect(
      await passwordSignsIn(config, REDIRECT, { username: 'anna', password: 'anna-local-password' }),
    ).toBe(true);
    expect((await poort.services.users.findByUsername('anna'))!.directory).toBe('local');
  });
});

describe('what changes in the directory reaches Poort', () => {
  it('at the next sign-in: a new address, other groups and a new name, under the same sub', async () => {
    const before = (await poort.services.users.findByUsername('jan'))!;
    await slapd.replace(janDn, 'mail', ['j.devries@school.example']);
    await slapd.replace(`cn=Staff,ou=groups,dc=poort,dc=test`, 'member', [`uid=anna,${PEOPLE}`]);
    janDn = await slapd.rename(janDn, 'uid=jdevries');
    await slapd.replace(janDn, 'uid', ['jdevries']);
    await slapd.addGroup('Teachers-2026', [janDn]);
    const seq = await lastSeq(poort);

    const { tokens } = await signIn(
      config,
      new Browser(),
      { username: 'jdevries', password: 'jan-directory-password' },
      { redirectUri: REDIRECT, scope: SCOPE },
    );
    expect(tokens.claims()!.sub).toBe(before.id);
    expect(await oidc.fetchUserInfo(config, tokens.access_token, before.id)).toMatchObject({
      preferred_username: 'jdevries',
      email: 'j.devries@school.example',
      groups: ['Teachers-2026'],
    });
    const events = await eventsSince(poort, seq);
    expect(byAction(events, 'user.updated')).toEqual([
      expect.objectContaining({
        actor: { type: 'system', name: 'ldap' },
        subject: { id: before.id, username: 'jdevries' },
        details: { directory: 'ldap', changed: ['username', 'email'], previous_username: 'jan' },
      }),
    ]);
    expect(byAction(events, 'group.changed').map((e) => e.details)).toEqual([
      { group: 'Teachers-2026', change: 'created', via: 'ldap' },
      { group: 'Teachers-2026', change: 'member_added', via: 'ldap' },
      { group: 'Staff', change: 'member_removed', via: 'ldap' },
    ]);
    expect(await poort.services.users.findByUsername('jan')).toBeUndefined();
  });

  it('at the sync: a user whose entry is gone is disabled and signed out everywhere', async () => {
    const dn = await slapd.addPerson({
      uid: 'leaver',
      password: 'leaver-directory-password',
      mail: 'l@school.example',
    });
    const { tokens } = await signIn(
      config,
      new Browser(),
      { username: 'leaver', password: 'leaver-directory-password' },
      { redirectUri: REDIRECT, scope: SCOPE },
    );
    const leaver = (await poort.services.users.findByUsername('leaver'))!;

    const dry = await runCliOn(poort, ['ldap', 'sync', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    await slapd.remove(dn);
    const preview = await runCliOn(poort, ['ldap', 'sync', '--dry-run', '--json']);
    expect(JSON.parse(preview.stdout)).toMatchObject({
      dry_run: true,
      disabled: [{ username: 'leaver', reason: 'directory_removed' }],
    });
    expect((await poort.services.users.findByUsername('leaver'))!.enabled).toBe(true);

    const seq = await lastSeq(poort);
    const run = await runCliOn(poort, ['ldap', 'sync']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Disabled leaver: no longer in the directory');
    expect((await poort.services.users.findByUsername('leaver'))!.enabled).toBe(false);
    expect(byAction(await eventsSince(poort, seq), 'user.disabled')).toEqual([
      expect.objectContaining({
        actor: { type: 'system', name: 'ldap' },
        subject: { id: leaver.id, username: 'leaver' },
        details: { reason: 'directory_removed', directory: 'ldap', signed_out_everywhere: true },
      }),
    ]);
    expect(await protocolError(oidc.refreshTokenGrant(config, tokens.refresh_token!))).toMatchObject({
      error: 'invalid_grant',
    });
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: false });
  });

  it('refuses a sync that would disable everyone because the directory answered no users', async () => {
    const wrongBase = (await import('node:fs'))
      .readFileSync(`${poort.dir}/poort.yaml`, 'utf8')
      .replace(`base_dn: "${PEOPLE}"`, 'base_dn: "ou=services,dc=poort,dc=test"');
    const file = `${poort.dir}/wrong-base.yaml`;
    fs.writeFileSync(file, wrongBase);
    const run = await runCliOn(poort, ['ldap', 'sync'], { config: file });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the directory returned no usable user entries');
    expect((await poort.services.users.findByUsername('jdevries'))!.enabled).toBe(true);
  });
});

describe('groups of groups (groups.nested)', () => {
  let nested: TestPoort;
  let nestedConfig: oidc.Configuration;
  beforeAll(async () => {
    nested = await startPoort(
      `${FAST_ARGON2}${ldapYaml(slapd, '  sync_interval: 0')}\n`.replace(
        `  groups:\n`,
        `  groups:\n    nested: true\n`,
      ),
    );
    await nested.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    nestedConfig = await relyingParty(nested, 'app', SECRET);
  });
  afterAll(async () => nested?.stop());

  it('gives a user the groups their groups are in, at sign-in and at the sync, as the directory changes', async () => {
    const dn = await slapd.addPerson({
      uid: 'noor',
      password: 'noor-directory-password',
      mail: 'noor@school.example',
    });
    const mentors = await slapd.addGroup('Mentors', [dn]);
    const staff = await slapd.addGroup('Personnel', [mentors]);
    const everyone = await slapd.addGroup('Everybody', [staff]);
    const { tokens } = await signIn(
      nestedConfig,
      new Browser(),
      { username: 'noor', password: 'noor-directory-password' },
      { redirectUri: REDIRECT, scope: SCOPE },
    );
    const noor = (await nested.services.users.findByUsername('noor'))!;
    expect(await oidc.fetchUserInfo(nestedConfig, tokens.access_token, noor.id)).toMatchObject({
      groups: ['Everybody', 'Mentors', 'Personnel'],
    });

    // Mentors leaves Personnel: the sync takes Personnel and Everybody away, and says so in the trail
    await slapd.replace(staff, 'member', [everyone]);
    const seq = await lastSeq(nested);
    const run = await runCliOn(nested, ['ldap', 'sync', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ updated: ['noor'] });
    expect((await nested.services.users.findByUsername('noor'))!.groups).toEqual(['Mentors']);
    expect(
      byAction(await eventsSince(nested, seq), 'group.changed')
        .map((e) => e.details)
        .sort((a, b) => String(a!.group).localeCompare(String(b!.group))),
    ).toEqual([
      { group: 'Everybody', change: 'member_removed', via: 'ldap' },
      { group: 'Personnel', change: 'member_removed', via: 'ldap' },
    ]);
  });
});

describe('administrative roles from LDAP groups (admin.role_directories)', () => {
  it('count where the directory is trusted with them, and not where only local groups are', async () => {
    const dn = await slapd.addPerson({
      uid: 'rick',
      password: 'rick-directory-password',
      mail: 'rick@school.example',
    });
    await slapd.addGroup('poort-helpdesk', [dn]);
    const localOnly = await startPoort(
      `${FAST_ARGON2}${ldapYaml(slapd, '  sync_interval: 0')}\nadmin: { role_directories: [local] }\n`,
    );
    try {
      for (const [server, status] of [
        [poort, 200],
        [localOnly, 403],
      ] as const) {
        // the first sign-in makes the Poort user, a member of poort-helpdesk through LDAP; then a second factor
        const first = await accountSignIn(server, 'rick', 'rick-directory-password');
        expect(first.page.status).toBe(200);
        const rick = (await server.services.users.findByUsername('rick'))!;
        expect(rick).toMatchObject({ directory: 'ldap', groups: ['poort-helpdesk'] });
        const secret = newTotpSecret();
        await server.services.factors.add({ userId: rick.id, kind: 'totp', name: 'Phone', secret });
        const seq = await lastSeq(server);
        const page = await adminSignIn(server, 'rick', 'rick-directory-password', secret);
        expect(page.status).toBe(status);
        if (status === 403) {
          expect(byAction(await eventsSince(server, seq), 'admin.access')).toEqual([
            expect.objectContaining({
              outcome: 'denied',
              reason: 'no_role',
              actor: expect.objectContaining({ id: rick.id }),
            }),
          ]);
        }
      }
    } finally {
      await localOnly.stop();
    }
  });
});

describe('the scheduled sync', () => {
  it('runs by itself every sync_interval, on one node of several', async () => {
    const node = await startPoort(`${FAST_ARGON2}${ldapYaml(slapd, '  sync_interval: 1s')}\n`);
    try {
      await node.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
      const nodeConfig = await relyingParty(node, 'app', SECRET);
      const dn = await slapd.addPerson({
        uid: 'temp',
        password: 'temp-directory-password',
        mail: 't@school.example',
      });
      expect(
        await passwordSignsIn(nodeConfig, REDIRECT, {
          username: 'temp',
          password: 'temp-directory-password',
        }),
      ).toBe(true);
      await slapd.remove(dn);
      const deadline = Date.now() + 8000;
      while ((await node.services.users.findByUsername('temp'))!.enabled) {
        expect(Date.now()).toBeLessThan(deadline);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await node.stop();
    }
  });

  it('is run by one node of several sharing a key-value store', async () => {
    let runs = 0;
    const counted = {
      run: async () => {
        runs++;
        return poort.services.ldap!.sync.run();
      },
    } as LdapSync;
    const silent = pino({ level: 'silent' });
    const a = new LdapSyncSchedule(counted, poort.services.kv, 3600, silent);
    const b = new LdapSyncSchedule(counted, poort.services.kv, 3600, silent);
    await poort.services.kv.delete('ldap-sync:turn');
    await Promise.all([a.round(), b.round()]);
    expect(runs).toBe(1);
  });
});

describe('an LDAP user’s password is the directory’s', () => {
  it('is not offered for change on the account page, and the CLI refuses to set or reset it', async () => {
    const { page } = await accountSignIn(poort, 'jdevries', 'jan-directory-password');
    expect(page.body).toContain('kept in your organisation&#39;s directory');
    expect(page.body).not.toContain('/account/security/password"');
    const browser = new Browser();
    await accountSignIn(poort, 'jdevries', 'jan-directory-password', { browser });
    const change = await browser.navigate(`${poort.issuer}/account/security/password`);
    expect(change.status).toBe(409);

    const set = await runCliOn(poort, ['user', 'set-password', 'jdevries', '--password-stdin'], {
      input: 'a new local password for jan\n',
    });
    expect(set.code).toBe(1);
    expect(set.stderr).toContain(
      'jdevries is a user of the LDAP directory: its password is checked by the directory',
    );
    const reset = await runCliOn(poort, ['user', 'reset-password', 'jdevries', '--print-link']);
    expect(reset.code).toBe(1);
    const member = await runCliOn(poort, ['group', 'add-member', 'Staff', 'jdevries']);
    expect(member.code).toBe(1);
    expect(member.stderr).toContain('its groups come from the directory');
    const show = await runCliOn(poort, ['user', 'show', 'jdevries']);
    expect(show.stdout).toMatch(/directory:\s+ldap/);
    expect(show.stdout).toMatch(/password:\s+in LDAP/);
  });
});

describe('poort ldap check', () => {
  it('binds the service account and counts the entries that can sign in, naming those that cannot', async () => {
    const json = await runCliOn(poort, ['ldap', 'check', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as { server: string; users: number; unusable: unknown[] };
    expect(result.server).toBe(slapd.url);
    expect(result.unusable).toEqual([
      { dn: `uid=nomail,${PEOPLE}`, problem: 'invalid_email', attribute: 'mail' },
    ]);
    expect(result.users).toBeGreaterThanOrEqual(2);
    const text = await runCliOn(poort, ['ldap', 'check']);
    expect(text.stdout).toContain(`${slapd.url} answered; bound as cn=poort,ou=services,dc=poort,dc=test`);
    expect(text.stdout).toMatch(/uid=nomail,ou=people,dc=poort,dc=test\s+invalid_email\s+mail/);

    const without = await runCliOn(poort, ['ldap', 'check'], { config: `${poort.dir}/plain.yaml` });
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('no LDAP directory is configured');
  });
});

describe('when the directory does not answer', () => {
  it('says so (503, the name kept), records it, lets local users in, and recovers by itself', async () => {
    await slapd.pause();
    try {
      const seq = await lastSeq(poort);
      const page = await attempt('jdevries', 'jan-directory-password');
      expect(page.status).toBe(503);
      expect(page.body).toContain('the organisation&#39;s directory does not answer');
      expect(page.body).toContain('value="jdevries"');
      expect(page.body).not.toMatch(/ECONNREFUSED|at .*\.js:\d+/);
      expect(byAction(await eventsSince(poort, seq), 'signin.password')).toEqual([
        expect.objectContaining({
          outcome: 'failure',
          reason: 'directory_unavailable',
          subject: expect.objectContaining({ username: 'jdevries', known: true }),
        }),
      ]);
      expect(
        await passwordSignsIn(config, REDIRECT, { username: 'anna', password: 'anna-local-password' }),
      ).toBe(true);
      // an outage is no guess: more attempts than the throttle allows still get the outage's answer
      for (let i = 0; i < 6; i++) expect((await attempt('jdevries', 'x')).status).toBe(503);
      const sync = await runCliOn(poort, ['ldap', 'sync']);
      expect(sync.code).toBe(1);
      expect(sync.stderr).toContain('no LDAP server answered');
    } finally {
      await slapd.start();
    }
    expect(
      await passwordSignsIn(config, REDIRECT, { username: 'jdevries', password: 'jan-directory-password' }),
    ).toBe(true);
  });
});

describe('ldap.enabled: false', () => {
  it('keeps the settings but signs nobody in through LDAP', async () => {
    const off = await startPoort(`${FAST_ARGON2}${ldapYaml(slapd, '  enabled: false')}\n`);
    try {
      await off.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
      const offConfig = await relyingParty(off, 'app', SECRET);
      expect(
        await passwordSignsIn(offConfig, REDIRECT, { username: 'anna', password: 'anna-directory-password' }),
      ).toBe(false);
      expect(await off.services.users.findByUsername('anna')).toBeUndefined();
      const check = await runCliOn(off, ['ldap', 'check']);
      expect(check.code).toBe(1);
      expect(check.stderr).toContain('no LDAP directory is configured');
    } finally {
      await off.stop();
    }
  });
});

describe('Active Directory', () => {
  let ad: TestPoort;
  let adConfig: oidc.Configuration;
  beforeAll(async () => {
    ad = await startPoort(
      `${FAST_ARGON2}${ldapYaml(slapd)}\n  type: active_directory\n  sync_interval: 0\n`.replace(
        '  users:\n',
        '  users:\n    filter: "(objectClass=user)"\n',
      ),
    );
    await ad.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    adConfig = await relyingParty(ad, 'app', SECRET);
  });
  afterAll(async () => ad?.stop());

  it('signs in by sAMAccountName, keys the user by objectGUID, takes groups from memberOf, refuses disabled accounts', async () => {
    const { guid } = await slapd.addAdUser({
      sAMAccountName: 'PJansen',
      password: 'piet-ad-password',
      mail: 'piet@school.example',
      displayName: 'Piet Jansen',
      memberOf: ['CN=Docenten,OU=groups,DC=poort,DC=test', 'CN=Elsewhere,OU=other,DC=example,DC=org'],
    });
    await slapd.addAdUser({
      sAMAccountName: 'gone',
      password: 'gone-ad-password',
      mail: 'gone@school.example',
      disabled: true,
    });
    const { tokens } = await signIn(
      adConfig,
      new Browser(),
      { username: 'pjansen', password: 'piet-ad-password' },
      { redirectUri: REDIRECT, scope: 'openid profile groups' },
    );
    const user = (await ad.services.users.findExternal('ldap', guidText(guid)))!;
    expect(user).toMatchObject({ username: 'pjansen', name: 'Piet Jansen', groups: ['Docenten'] });
    expect(tokens.claims()!.sub).toBe(user.id);

    const seq = await lastSeq(ad);
    expect(
      await passwordSignsIn(adConfig, REDIRECT, { username: 'gone', password: 'gone-ad-password' }),
    ).toBe(false);
    expect(byAction(await eventsSince(ad, seq), 'signin.password')).toEqual([
      expect.objectContaining({ outcome: 'failure', details: { failure: 'disabled' } }),
    ]);
  });
});

/** objectGUID's bytes as Windows prints the GUID (the first three fields little-endian). */
function guidText(bytes: Buffer): string {
  const le = (from: number, to: number) => Buffer.from(bytes.subarray(from, to)).reverse().toString('hex');
  const be = (from: number, to: number) => bytes.subarray(from, to).toString('hex');
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${be(8, 10)}-${be(10, 16)}`;
}
