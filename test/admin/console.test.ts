import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_CLIENT_ID } from '../../src/admin/client.js';
import { sinkFailureKey } from '../../src/audit/sink-failures.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { EnrolmentCodes } from '../../src/mfa/enrolment-codes.js';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { PolicyStore } from '../../src/policy/store.js';
import { adminSignIn } from '../helpers/admin.js';
import { whileAuditRefused } from '../helpers/backend.js';
import { Browser, decodeEntities, readForm, type Page } from '../helpers/browser.js';
import {
  expectSignedOut,
  FAST_ARGON2,
  passwordSignsIn,
  relyingParty,
  signIn,
  signOutOfPoort,
  submitPassword,
} from '../helpers/oidc.js';
import { runCliOn } from '../helpers/cli.js';
import { setPolicy } from '../helpers/policy.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { mailedLink, startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { eventsSince, lastSeq } from '../helpers/trail.js';

const PASSWORD = 'a passphrase nobody guesses';
const SECRET = 'wiki-secret-0123456789';
const REDIRECT = 'http://127.0.0.1:7951/cb';

const only = (events: AuditEvent[], action: string) => events.filter((e) => e.action === action);

function text(page: Page): string {
  return decodeEntities(page.body.replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ');
}

/** Submits form `id` of `page` (with `extra` fields) and returns the answer, redirects not followed. */
async function submit(browser: Browser, page: Page, id: string, extra: Record<string, string> = {}) {
  const form = readForm(page, id);
  return browser.request(new URL(form.action, page.url).href, { form: { ...form.fields, ...extra } });
}

describe('the administration console (/admin)', { timeout: 120_000 }, () => {
  let poort: TestPoort;
  let smtp: TestSmtpServer;
  /** a SIEM that refuses every delivery */
  let siem: http.Server;
  let app: oidc.Configuration;
  const ids: Record<string, string> = {};
  const totp: Record<string, string> = {};
  /** signed-in consoles, one browser per person */
  const consoles: Record<string, { browser: Browser; home: Page }> = {};
  const signIns: Record<string, number> = {};

  async function person(username: string, groups: string[], factor = true) {
    ids[username] = await poort.addUser({ username, password: PASSWORD, groups, name: username });
    if (factor) {
      totp[username] = newTotpSecret();
      await poort.services.factors.add({
        userId: ids[username],
        kind: 'totp',
        name: 'Phone',
        secret: totp[username],
      });
    }
  }

  async function consoleOf(username: string): Promise<{ browser: Browser; home: Page }> {
    if (!consoles[username]) {
      const browser = new Browser();
      // a second sign-in of the same person uses the next period's code: the current one was used
      const step = (signIns[username] = (signIns[username] ?? -1) + 1);
      const home = await adminSignIn(poort, username, PASSWORD, totp[username]!, { browser, step });
      consoles[username] = { browser, home };
    }
    return consoles[username];
  }

  const open = async (username: string, path: string) => {
    const { browser } = await consoleOf(username);
    return { browser, page: await browser.navigate(`${poort.issuer}${path}`) };
  };

  beforeAll(async () => {
    smtp = await startSmtpServer();
    siem = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(503).end());
    });
    await new Promise<void>((resolve) => siem.listen(0, '127.0.0.1', resolve));
    const siemPort = (siem.address() as AddressInfo).port;
    poort = await startPoort(`passwords:
  argon2: { memory_kib: 8192, iterations: 1 }
  reset:
    email: { type: smtp, host: 127.0.0.1, port: ${smtp.port}, security: none, from: helpdesk@acme.example }
audit:
  sinks:
    - { type: webhook, name: siem, url: "http://127.0.0.1:${siemPort}/ingest" }
`);
    await poort.addClient({ clientId: 'wiki', secret: SECRET, redirectUris: [REDIRECT] });
    app = await relyingParty(poort, 'wiki', SECRET);
    await person('hanna', ['poort-helpdesk']);
    await person('sofie', ['poort-security-officers']);
    await person('arjen', ['poort-auditors']);
    await person('dirk', ['poort-helpdesk', 'poort-security-officers']);
    await person('nina', ['staff']);
    await person('carla', ['staff'], false);
    await person('pieter', ['staff'], false);
  });
  afterAll(async () => {
    await poort?.stop();
    await smtp?.close();
    siem?.closeAllConnections();
    await new Promise<void>((resolve) => (siem ? siem.close(() => resolve()) : resolve()));
  });

  it('sends a visitor to a fresh sign-in that asks for a second factor, and opens with the roles of the groups', async () => {
    const first = await new Browser().request(`${poort.issuer}/admin/users?q=car`);
    expect(first.status).toBe(303);
    const location = new URL(first.headers.get('location')!, poort.issuer);
    expect(location.pathname).toBe('/auth');
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      client_id: ADMIN_CLIENT_ID,
      prompt: 'login',
      max_age: '0',
      acr_values: 'urn:poort:acr:mfa',
      code_challenge_method: 'S256',
      redirect_uri: `${poort.issuer}/admin/callback`,
    });
    expect(first.headers.get('cache-control')).toBe('no-store');
    const loginCookie = first.headers.getSetCookie().find((c) => c.startsWith('poort_admin_login='))!;
    expect(loginCookie).toMatch(/; Path=\/admin; Max-Age=900; HttpOnly; SameSite=Lax$/);

    const seq = await lastSeq(poort);
    const browser = new Browser();
    const page = await adminSignIn(poort, 'hanna', PASSWORD, totp.hanna!, {
      browser,
      path: '/admin/users?q=car',
    });
    expect(page.status).toBe(200);
    expect(page.url).toBe(`${poort.issuer}/admin/users?q=car`);
    expect(page.body).toContain('<html lang="en">');
    expect(text(page)).toContain('1 user found');
    expect(page.body).toContain('carla');
    consoles.hanna = { browser, home: page };
    signIns.hanna = 0;
    const [access] = only(await eventsSince(poort, seq), 'admin.access');
    expect(access).toMatchObject({
      outcome: 'success',
      actor: { type: 'admin', id: ids.hanna, name: 'hanna' },
      application: { id: ADMIN_CLIENT_ID, protocol: 'oidc' },
      details: { roles: ['helpdesk'], via: 'admin' },
    });
    expect(access!.details!.amr).toEqual(expect.arrayContaining(['pwd', 'mfa']));

    const home = await browser.navigate(`${poort.issuer}/admin`);
    expect(text(home)).toContain('Helpdesk');
    expect(home.body).toContain('href="/admin/users"');
    expect(home.body).not.toContain('href="/admin/policy"');
    expect(home.body).not.toContain('href="/admin/audit"');
  });

  it('refuses people without a role, and people whose roles must be kept apart, and records why', async () => {
    const seq = await lastSeq(poort);
    for (const [username, reason, message] of [
      ['nina', 'no_role', 'has no administrative role'],
      ['dirk', 'conflicting_roles', 'must be kept apart'],
    ] as const) {
      const browser = new Browser();
      const page = await adminSignIn(poort, username, PASSWORD, totp[username]!, { browser });
      expect(page.status).toBe(403);
      expect(text(page)).toContain(message);
      const again = await browser.request(`${poort.issuer}/admin`);
      expect(again.status).toBe(303);
      expect(again.headers.get('location')).toMatch(/^\/auth\?/);
      const [denied] = only(await eventsSince(poort, seq), 'admin.access').filter(
        (e) => e.actor.name === username,
      );
      expect(denied).toMatchObject({
        outcome: 'denied',
        reason,
        actor: { type: 'admin', id: ids[username] },
      });
    }
  });

  it('lets the helpdesk disable and enable an account, sign it out everywhere and remove its second factors', async () => {
    // signed in to the wiki before the helpdesk acts (with the password alone: no second factor yet)
    const carla = new Browser();
    const before = await signIn(
      app,
      carla,
      { username: 'carla', password: PASSWORD },
      { redirectUri: REDIRECT },
    );
    const { browser, page } = await open('hanna', `/admin/users/${ids.carla}`);
    expect(page.status).toBe(200);
    expect(text(page)).toContain('carla@example.org');
    expect(text(page)).toContain('No second factor set up.');
    expect(page.body).not.toContain('id="user-factors"');
    const seq = await lastSeq(poort);
    const disabled = await submit(browser, page, 'user-disable');
    expect(disabled.status).toBe(303);
    expect(disabled.headers.get('location')).toBe(`/admin/users/${ids.carla}?done=disabled`);
    expect((await poort.services.users.findById(ids.carla!))!.enabled).toBe(false);
    expect(await passwordSignsIn(app, REDIRECT, { username: 'carla', password: PASSWORD })).toBe(false);
    const [event] = only(await eventsSince(poort, seq), 'user.disabled');
    expect(event).toMatchObject({
      outcome: 'success',
      actor: { type: 'admin', id: ids.hanna, name: 'hanna' },
      subject: { id: ids.carla, username: 'carla' },
      application: { id: ADMIN_CLIENT_ID },
      source: { ip: '127.0.0.1' },
      details: { via: 'admin', roles: ['helpdesk'] },
    });

    const shown = await browser.navigate(`${poort.issuer}/admin/users/${ids.carla}?done=disabled`);
    expect(text(shown)).toContain('The account is disabled.');
    expect((await submit(browser, shown, 'user-enable')).status).toBe(303);
    expect(await passwordSignsIn(app, REDIRECT, { username: 'carla', password: PASSWORD })).toBe(true);

    const enabled = await browser.navigate(`${poort.issuer}/admin/users/${ids.carla}`);
    const signedOut = await submit(browser, enabled, 'user-signout');
    expect(signedOut.headers.get('location')).toContain('done=signed_out');
    await expectSignedOut(app, REDIRECT, carla, before.tokens, ids.carla!);

    await poort.services.factors.add({
      userId: ids.carla!,
      kind: 'totp',
      name: 'Phone',
      secret: newTotpSecret(),
    });
    const withFactor = await browser.navigate(`${poort.issuer}/admin/users/${ids.carla}`);
    expect(text(withFactor)).toContain('Phone');
    const removed = await submit(browser, withFactor, 'user-factors');
    expect(removed.headers.get('location')).toContain('done=factors_removed');
    expect(await poort.services.factors.list(ids.carla!)).toHaveLength(0);
    const events = await eventsSince(poort, seq);
    expect(only(events, 'user.enabled')).toHaveLength(1);
    expect(only(events, 'logout')[0]).toMatchObject({
      actor: { type: 'admin', name: 'hanna' },
      subject: { username: 'carla' },
      details: { everywhere: true },
    });
    expect(only(events, 'mfa.removed')[0]).toMatchObject({
      actor: { type: 'admin', name: 'hanna' },
      details: { factor: 'totp', name: 'Phone' },
    });
  });

  it('shows the helpdesk an account’s recent sign-ins and failed attempts, recording that the trail was read', async () => {
    const joost = await poort.addUser({ username: 'joost', password: PASSWORD, email: 'joost@example.org' });
    expect(await passwordSignsIn(app, REDIRECT, { username: 'joost', password: 'forgot it' })).toBe(false);
    expect(await passwordSignsIn(app, REDIRECT, { username: 'joost', password: PASSWORD })).toBe(true);
    const { browser } = await consoleOf('hanna');
    const seq = await lastSeq(poort);
    const page = await browser.navigate(`${poort.issuer}/admin/users/${joost}`);
    expect(page.status).toBe(200);
    const table = /<table class="data">[\s\S]*?<\/table>/.exec(page.body)![0].replace(/<[^>]+>/g, ' ');
    expect(table.replace(/\s+/g, ' ')).toMatch(/Signed in .*wiki.* Wrong password .*wiki/);
    expect(only(await eventsSince(poort, seq), 'audit.searched')).toEqual([
      expect.objectContaining({
        actor: { type: 'admin', id: ids.hanna, name: 'hanna' },
        subject: { id: joost, username: 'joost' },
        details: {
          filter: { user: joost, action: 'signin.*', days: 30 },
          results: 2,
          via: 'user_page',
          roles: ['helpdesk'],
        },
      }),
    ]);
  });

  it('lets the helpdesk give an enrolment code, shown once and kept only as a hash', async () => {
    const { browser, page } = await open('hanna', `/admin/users/${ids.carla}`);
    const seq = await lastSeq(poort);
    const answer = await browser.request(
      new URL(readForm(page, 'user-enrolment-code').action, page.url).href,
      {
        form: readForm(page, 'user-enrolment-code').fields,
      },
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const code = /id="enrolment-code"[^>]*>([\d-]+)</.exec(answer.body)?.[1];
    expect(code).toMatch(/^\d{4}(-\d{4}){4}$/);
    const [issued] = only(await eventsSince(poort, seq), 'mfa.enrolment_code.issued');
    expect(issued).toMatchObject({
      actor: { type: 'admin', name: 'hanna' },
      subject: { username: 'carla' },
      details: { ttl_seconds: 86400, withdrawn: 0, via: 'admin' },
    });
    expect(JSON.stringify(issued)).not.toContain(code!.replace(/-/g, ''));
    const codes = new EnrolmentCodes(poort.services.db, poort.services.hasher);
    expect(await codes.redeem(ids.carla!, code!)).toBe(true);
    expect(await codes.redeem(ids.carla!, code!)).toBe(false);
  });

  it('fails closed: a change that cannot be recorded does not happen, and the page says so (503)', async () => {
    const { browser, page } = await open('hanna', `/admin/users/${ids.nina}`);
    const refused = await whileAuditRefused(poort, () => submit(browser, page, 'user-disable'));
    expect(refused.status).toBe(503);
    expect(refused.body).not.toContain('disk full');
    expect((await poort.services.users.findById(ids.nina!))!.enabled).toBe(true);
  });

  it('lets the helpdesk e-mail a reset link, recorded with the helpdesk member as actor', async () => {
    const { browser, page } = await open('hanna', `/admin/users/${ids.pieter}`);
    expect(text(page)).toContain('pieter@example.org');
    const seq = await lastSeq(poort);
    const sent = await submit(browser, page, 'user-reset');
    expect(sent.headers.get('location')).toContain('done=reset_sent');
    expect((await mailedLink(smtp, 'pieter@example.org')).link).toMatch(/\/password\/reset\//);
    expect(only(await eventsSince(poort, seq), 'password.reset.requested')[0]).toMatchObject({
      outcome: 'success',
      actor: { type: 'admin', name: 'hanna' },
      subject: { username: 'pieter' },
      details: { via: 'helpdesk', delivery: 'email', roles: ['helpdesk'] },
    });
  });

  it('keeps the helpdesk to its duties: not its own account, nobody with a role, not the policy, never without CSRF', async () => {
    const { browser, page: own } = await open('hanna', `/admin/users/${ids.hanna}`);
    expect(text(own)).toContain('This is your own account');
    expect(own.body).not.toContain('id="user-disable"');
    const { page: officer } = await open('hanna', `/admin/users/${ids.sofie}`);
    expect(text(officer)).toContain('holds an administrative role');
    expect(officer.body).not.toContain('id="user-reset"');

    const seq = await lastSeq(poort);
    const csrf = readForm(own, 'admin-signout').fields.csrf!;
    const forced = await browser.request(`${poort.issuer}/admin/users/${ids.sofie}/disable`, {
      form: { csrf },
    });
    expect(forced.status).toBe(403);
    expect((await poort.services.users.findById(ids.sofie!))!.enabled).toBe(true);
    const [refused] = only(await eventsSince(poort, seq), 'user.disabled');
    expect(refused).toMatchObject({ outcome: 'denied', reason: 'privileged_user', actor: { name: 'hanna' } });

    const policy = await browser.request(`${poort.issuer}/admin/policy`);
    expect(policy.status).toBe(403);
    expect(text(policy)).toContain('Your role does not allow this');
    const write = await browser.request(`${poort.issuer}/admin/policy`, {
      form: { csrf, text: 'rules: []\ndefault: deny\n' },
    });
    expect(write.status).toBe(403);
    expect(await new PolicyStore(poort.services.db).latest()).toBeUndefined();
    expect((await browser.request(`${poort.issuer}/admin/audit`)).status).toBe(403);
    expect((await browser.request(`${poort.issuer}/admin/audit.csv`)).status).toBe(403);
    const forbidden = only(await eventsSince(poort, seq), 'admin.access');
    expect(forbidden.map((e) => [e.outcome, e.reason, e.details!.permission])).toEqual([
      ['denied', 'forbidden', 'policy.read'],
      ['denied', 'forbidden', 'policy.write'],
      ['denied', 'forbidden', 'audit.read'],
      ['denied', 'forbidden', 'audit.read'],
    ]);

    const noToken = await browser.request(`${poort.issuer}/admin/users/${ids.nina}/disable`, {
      form: { csrf: '' },
    });
    expect(noToken.status).toBe(403);
    expect((await poort.services.users.findById(ids.nina!))!.enabled).toBe(true);
  });

  it('lets the security officer check a new policy, see what changes, store it and roll it back', async () => {
    const { browser, page } = await open('sofie', '/admin/policy');
    expect(page.status).toBe(200);
    expect(page.body).toContain('id="policy-text"');
    const csrf = readForm(page, 'policy-edit-form').fields.csrf!;
    const check = (policy: string) =>
      browser.navigate(`${poort.issuer}/admin/policy/check`, { form: { csrf, text: policy } });

    const broken = await check(
      'rules:\n  - { id: x, when: { application: { ids: [wiki] } }, then: maybe }\n',
    );
    expect(broken.status).toBe(400);
    expect(broken.body).toContain('role="alert"');
    expect(text(broken)).toContain('the policy: rules');
    expect(broken.body).toContain('aria-invalid="true"');

    const blocking =
      'rules:\r\n  - { id: block-wiki, when: { application: { ids: [wiki] } }, then: deny }\r\ndefault: allow\r\n';
    const checked = await check(blocking);
    expect(checked.status).toBe(200);
    expect(text(checked)).toContain('The policy is valid: 1 rule.');
    expect(text(checked)).toContain('Rule block-wiki is added');
    const seq = await lastSeq(poort);
    const stored = await submit(browser, checked, 'policy-store');
    expect(stored.status).toBe(303);
    expect(stored.headers.get('location')).toBe('/admin/policy?done=stored');
    const version = await new PolicyStore(poort.services.db).latest();
    expect(version).toMatchObject({ version: 1, createdBy: 'sofie' });
    expect(version!.text).toBe(blocking.replace(/\r\n/g, '\n'));
    const [changed] = only(await eventsSince(poort, seq), 'policy.changed');
    expect(changed).toMatchObject({
      actor: { type: 'admin', id: ids.sofie, name: 'sofie' },
      application: { id: ADMIN_CLIENT_ID },
      source: { ip: '127.0.0.1' },
      details: { version: 1, via: 'admin', roles: ['security_officer'], rules: { added: ['block-wiki'] } },
    });
    // in force at once
    expect(await passwordSignsIn(app, REDIRECT, { username: 'pieter', password: PASSWORD })).toBe(false);

    const second = await check('rules: []\ndefault: allow\n');
    expect(text(second)).toContain('Rule block-wiki is removed');
    await submit(browser, second, 'policy-store');
    expect(await passwordSignsIn(app, REDIRECT, { username: 'pieter', password: PASSWORD })).toBe(true);

    const history = await browser.navigate(`${poort.issuer}/admin/policy?done=stored`);
    expect(text(history)).toContain('The new version is stored');
    const rolledBack = await submit(browser, history, 'policy-rollback-1');
    expect(rolledBack.status).toBe(303);
    expect(await new PolicyStore(poort.services.db).latest()).toMatchObject({
      version: 3,
      text: version!.text,
      summary: expect.stringMatching(/^rollback to version 1/),
    });
    expect(only(await eventsSince(poort, seq), 'policy.changed')[2]).toMatchObject({
      details: { version: 3, rollback_to: 1, via: 'admin' },
    });
    expect(await passwordSignsIn(app, REDIRECT, { username: 'pieter', password: PASSWORD })).toBe(false);
    const again = await check('rules: []\ndefault: allow\n');
    await submit(browser, again, 'policy-store');
    const commented = await check('# nothing but a comment more\nrules: []\ndefault: allow\n');
    expect(text(commented)).toContain('Only comments or layout change: the rules stay the same.');
  });

  it('lets the security officer search the trail and check the chain; both are recorded', async () => {
    const seq = await lastSeq(poort);
    const { browser, page } = await open('sofie', '/admin/audit?action=policy.changed&user=');
    expect(page.status).toBe(200);
    expect(text(page)).toContain('4 events');
    expect(page.body).toContain('<code>policy.changed</code>');
    expect(only(await eventsSince(poort, seq), 'audit.searched')[0]).toMatchObject({
      actor: { type: 'admin', name: 'sofie' },
      details: { filter: { action: 'policy.changed' }, results: 4 },
    });

    const csvLink = /href="([^"]+\.csv[^"]*)"/.exec(page.body)?.[1];
    expect(decodeEntities(csvLink!)).toBe('/admin/audit.csv?action=policy.changed');
    const csv = await browser.request(`${poort.issuer}${decodeEntities(csvLink!)}`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toMatch(
      /^attachment; filename="poort-audit-\d{4}-\d{2}-\d{2}\.csv"$/,
    );
    const lines = csv.body.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'seq,time,action,outcome,reason,user,user_id,application,ip,country,device,actor,id',
    );
    expect(lines.slice(1).map((l) => l.split(',')[2])).toEqual(Array(4).fill('policy.changed'));
    expect(only(await eventsSince(poort, seq), 'audit.searched').at(-1)).toMatchObject({
      details: { format: 'csv', results: 4, filter: { action: 'policy.changed' } },
    });
    expect((await browser.request(`${poort.issuer}/admin/audit.csv?outcome=maybe`)).status).toBe(400);

    const bad = await browser.navigate(`${poort.issuer}/admin/audit?ip=not-an-address&since=yesterday`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/id="f-ip"[^>]*aria-invalid="true"/);
    expect(bad.body).toMatch(/id="f-since"[^>]*aria-invalid="true"/);
    expect(text(bad)).toContain('Not an IP address or range.');

    // more than a page: the next one, below the last event shown, and back
    for (let i = 0; i < 101; i++)
      await poort.services.audit.append({
        action: 'keys.rotated',
        outcome: 'success',
        actor: { type: 'system' },
        details: { i },
      });
    const newest = await browser.navigate(`${poort.issuer}/admin/audit?action=keys.rotated`);
    expect(text(newest)).toContain('The newest 100 events; older ones on the next page');
    const olderLink = decodeEntities(/<a href="([^"]+)" rel="next">Older events<\/a>/.exec(newest.body)![1]!);
    expect(olderLink).toMatch(/^\/admin\/audit\?action=keys\.rotated&before=\d+$/);
    const searched = await lastSeq(poort);
    const older = await browser.navigate(`${poort.issuer}${olderLink}`);
    expect(older.status).toBe(200);
    expect(older.body.match(/<code>keys\.rotated<\/code>/g)).toHaveLength(1);
    expect(older.body).toContain('&quot;i&quot;: 0');
    expect(text(older)).toMatch(/Events before event \d+/);
    expect(older.body).not.toContain('rel="next"');
    expect(older.body).toContain('<a href="/admin/audit?action=keys.rotated">Back to the newest events</a>');
    expect(only(await eventsSince(poort, searched), 'audit.searched')[0]).toMatchObject({
      details: {
        filter: { action: 'keys.rotated', before: Number(olderLink.split('before=')[1]) },
        results: 1,
      },
    });
    for (const page of ['abc', '0', '-1', '1e3'])
      expect((await browser.request(`${poort.issuer}/admin/audit?before=${page}`)).status, page).toBe(400);

    const before = await lastSeq(poort);
    const verified = await browser.navigate(`${poort.issuer}/admin/audit/verify`, {
      form: readForm(page, 'audit-verify').fields,
    });
    expect(verified.status).toBe(200);
    expect(text(verified)).toMatch(/The chain is intact: \d+ events checked\./);
    expect(only(await eventsSince(poort, before), 'audit.verified')[0]).toMatchObject({
      outcome: 'success',
      actor: { name: 'sofie' },
    });
  });

  it('shows how far each sink has taken the trail, which server ships it, and why a sink fails', async () => {
    // an event for the sink to take: opening the trail is recorded
    await open('arjen', '/admin/audit');
    const deadline = Date.now() + 10_000;
    while (!(await poort.services.kv.get(sinkFailureKey('siem')))) {
      if (Date.now() > deadline) throw new Error('the SIEM sink never recorded a failure');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const { browser, page } = await open('arjen', '/admin/audit');
    expect(page.status).toBe(200);
    const shown = text(page);
    expect(shown).toContain('Shipping to other systems');
    expect(shown).toMatch(/Shipped by server \S+:\d+:[0-9a-f]{8}, since \S.* UTC \./);
    expect(shown).toMatch(
      /siem 0 \d+ .+ UTC Failing since .+ UTC, (one attempt|\d+ attempts in a row): webhook: HTTP 503 Service Unavailable/,
    );
    expect(shown).toMatch(/oidc-sessions-ended \d+ \d+ /);
    const dutch = await browser.request(`${poort.issuer}/admin/audit`, {
      headers: { 'accept-language': 'nl' },
    });
    expect(text(dutch)).toMatch(
      /Mislukt sinds .+ UTC, (één poging|\d+ pogingen achter elkaar): webhook: HTTP 503/,
    );
  });

  it('lets the auditor read accounts, the policy and the trail, and change nothing', async () => {
    const { browser, page } = await open('arjen', `/admin/users/${ids.nina}`);
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('id="user-disable"');
    const policy = await browser.navigate(`${poort.issuer}/admin/policy`);
    expect(policy.status).toBe(200);
    expect(policy.body).not.toContain('id="policy-text"');
    expect(policy.body).not.toContain('policy-rollback-');
    expect((await browser.navigate(`${poort.issuer}/admin/audit`)).status).toBe(200);
    const csrf = readForm(page, 'admin-signout').fields.csrf!;
    const disable = await browser.request(`${poort.issuer}/admin/users/${ids.nina}/disable`, {
      form: { csrf },
    });
    expect(disable.status).toBe(403);
    expect((await poort.services.users.findById(ids.nina!))!.enabled).toBe(true);
  });

  it('ends a console session at once when its person loses the role, and at sign-out', async () => {
    const { browser } = await consoleOf('arjen');
    await poort.services.groups.removeMember('poort-auditors', ids.arjen!);
    const seq = await lastSeq(poort);
    const refused = await browser.request(`${poort.issuer}/admin/audit`);
    expect(refused.status).toBe(403);
    expect(only(await eventsSince(poort, seq), 'admin.access')[0]).toMatchObject({
      outcome: 'denied',
      reason: 'no_role',
    });
    expect((await browser.request(`${poort.issuer}/admin`)).status).toBe(303);
    await poort.services.groups.addMember('poort-auditors', ids.arjen!);

    const { browser: hanna, page } = await open('hanna', '/admin');
    const out = await submit(hanna, page, 'admin-signout');
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe(`/session/end?client_id=${ADMIN_CLIENT_ID}`);
    const after = await hanna.request(`${poort.issuer}/admin`);
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toMatch(/^\/auth\?/);
    delete consoles.hanna;
  });

  it('ends a console session when its person signs out of Poort (single sign-on logout)', async () => {
    delete consoles.arjen; // ended by the test before
    const { browser } = await consoleOf('arjen');
    const { browser: other } = await consoleOf('sofie');
    expect((await browser.request(`${poort.issuer}/admin`)).status).toBe(200);
    await signOutOfPoort(browser, `${poort.issuer}/session/end`);
    const after = await browser.request(`${poort.issuer}/admin`);
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toMatch(/^\/auth\?/);
    delete consoles.arjen;
    // someone else's console goes on
    expect((await other.request(`${poort.issuer}/admin`)).status).toBe(200);
  });

  it('shows who holds which role to those who audit, on the console and with poort admin roles', async () => {
    const { page } = await open('sofie', '/admin');
    expect(text(page)).toContain('Who holds a role');
    expect(text(page)).toMatch(/dirk Helpdesk, Security officer — roles that must be kept apart: refused/);
    expect(page.body).toContain(`href="/admin/users/${ids.hanna}"`);
    const { page: helpdesk } = await open('hanna', '/admin');
    expect(text(helpdesk)).toContain('Your roles');
    expect(text(helpdesk)).not.toContain('Who holds a role');

    const listed = await runCliOn(poort, ['admin', 'roles', '--json']);
    expect(listed.code).toBe(0);
    const review = JSON.parse(listed.stdout) as {
      separate_duties: boolean;
      holders: Array<{ username: string; roles: string[]; conflicts: string[][] }>;
    };
    expect(review.separate_duties).toBe(true);
    expect(review.holders.map((h) => [h.username, h.roles, h.conflicts])).toEqual([
      ['arjen', ['auditor'], []],
      ['dirk', ['helpdesk', 'security_officer'], [['helpdesk', 'security_officer']]],
      ['hanna', ['helpdesk'], []],
      ['sofie', ['security_officer'], []],
    ]);
    const table = await runCliOn(poort, ['admin', 'roles']);
    expect(table.stdout).toMatch(
      /dirk\s+helpdesk, security_officer\s+local\s+yes\s+\S+\s+helpdesk \+ security_officer \(refused\)/,
    );
    expect((await runCliOn(poort, ['admin', 'nonsense'])).code).not.toBe(0);
  });

  it('speaks Dutch', async () => {
    const { page } = await open('sofie', '/admin?lang=nl');
    expect(page.body).toContain('<html lang="nl">');
    expect(text(page)).toContain('Uw rollen');
    expect(text(page)).toContain('Security officer');
  });
});

describe('the administration console, switched off', () => {
  let poort: TestPoort;
  beforeAll(async () => {
    poort = await startPoort(
      'admin: { enabled: false }\npasswords: { argon2: { memory_kib: 8192, iterations: 1 } }\n',
    );
  });
  afterAll(async () => poort?.stop());

  it('is not there, and its client cannot be used', async () => {
    expect((await new Browser().request(`${poort.issuer}/admin`)).status).toBe(404);
    const auth = await new Browser().request(
      `${poort.issuer}/auth?client_id=${ADMIN_CLIENT_ID}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(`${poort.issuer}/admin/callback`)}`,
    );
    expect(auth.status).toBe(400);
  });
});

describe('the administration console under a sign-in policy', () => {
  let poort: TestPoort;
  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    await setPolicy(
      poort,
      'rules:\n  - { id: no-console-here, when: { application: { ids: [poort-admin] } }, then: deny }\n',
    );
  });
  afterAll(async () => poort?.stop());

  it('is an application like any other: a rule for poort-admin keeps it shut', async () => {
    await poort.addUser({ username: 'sofie', password: PASSWORD, groups: ['poort-security-officers'] });
    const browser = new Browser();
    const start = await browser.navigate(`${poort.issuer}/admin`);
    const answer = await submitPassword(browser, start, 'sofie', PASSWORD, `${poort.issuer}/admin/callback`);
    expect(answer.status).toBe(403);
    expect(text(answer)).toContain('Sign-in not allowed');
  });
});
