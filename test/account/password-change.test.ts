import fs from 'node:fs';
import path from 'node:path';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { accountSignIn } from '../helpers/account.js';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import {
  authorizeInBrowser,
  expectSignedOut,
  FAST_ARGON2,
  passwordSignsIn,
  relyingParty,
  signIn,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, tempDir, type TestPoort } from '../helpers/poort.js';
import { eventsSince, lastSeq as trailHead } from '../helpers/trail.js';

const OLD = 'the old passphrase nobody guesses';
const NEW = 'seven purple hedgehogs in Leiden';
const SECURITY = '/account/security';
const REDIRECT = 'http://127.0.0.1:7943/cb';
const SECRET = 'mail-secret-0123456789';

// A signed-in user changes their own password on /account/security, as in Keycloak's account console or Okta.
describe('changing one’s own password (/account/security/password)', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let app: oidc.Configuration;

  beforeAll(async () => {
    // recent failures, wherever they happened, make the organisation refuse a sign-in
    const policies = path.join(tempDir('poort-policies-'), 'policies.yaml');
    fs.writeFileSync(
      policies,
      'rules:\n  - id: recent-failures\n    when: { failed_attempts: { at_least: 2 } }\n    then: deny\n',
    );
    poort = await startPoort(
      `${FAST_ARGON2}throttle: { account: { free_attempts: 3, base_delay: 10m, max_delay: 1h, window: 1h } }
policies: { file: '${policies}' }
`,
    );
    await poort.addClient({ clientId: 'mail', secret: SECRET, redirectUris: [REDIRECT] });
    app = await relyingParty(poort, 'mail', SECRET);
  });
  afterAll(async () => poort?.stop());

  const lastSeq = () => trailHead(poort);
  const changes = async (since: number) =>
    (await eventsSince(poort, since)).filter((e) => e.action === 'password.changed');

  const canSignIn = (username: string, password: string) =>
    passwordSignsIn(app, REDIRECT, { username, password });

  /** The password page, reached from the security page's link. */
  async function passwordPage(browser: Browser, security: Page): Promise<Page> {
    expect(security.body).toContain('<h2 id="account-password">Password</h2>');
    const href = /<a href="([^"]+)">Change your password<\/a>/.exec(security.body)?.[1];
    expect(href).toBe(`${SECURITY}/password`);
    return browser.navigate(new URL(href!, security.url).href);
  }

  async function submit(
    browser: Browser,
    page: Page,
    fields: { current?: string; password: string; repeat?: string; everywhere?: boolean },
  ): Promise<Page> {
    const form = readForm(page, 'account-password-form');
    const { signout_everywhere: _box, ...rest } = form.fields;
    return browser.request(form.action, {
      form: {
        ...rest,
        ...(fields.current !== undefined ? { current: fields.current } : {}),
        password: fields.password,
        repeat: fields.repeat ?? fields.password,
        ...(fields.everywhere === false ? {} : { signout_everywhere: 'yes' }),
      },
    });
  }

  it('asks for the current password, checks the new one twice under the policy, and by default signs out everywhere', async () => {
    const userId = await poort.addUser({ username: 'lotte', password: OLD, email: 'lotte@acme.example' });
    const phone = new Browser();
    const { tokens } = await signIn(
      app,
      phone,
      { username: 'lotte', password: OLD },
      { redirectUri: REDIRECT },
    );
    // the account pages ask for the second factor of a user who has one
    const secret = newTotpSecret();
    await poort.services.factors.add({ userId, kind: 'totp', name: 'Phone', secret });
    const browser = new Browser();
    const { page: security } = await accountSignIn(poort, 'lotte', OLD, { totpSecret: secret, browser });
    const page = await passwordPage(browser, security);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>Change your password — Poort</title>');
    expect(page.body).toMatch(
      /<label for="current">Current password<\/label>\s*<input id="current" name="current" type="password" autocomplete="current-password"/,
    );
    expect(page.body).toMatch(
      /<input id="password" name="password" type="password" autocomplete="new-password"/,
    );
    expect(page.body).toMatch(
      /<input id="signout-everywhere" name="signout_everywhere" type="checkbox" value="yes" checked/,
    );
    const since = await lastSeq();

    // without this visit's CSRF token nothing happens
    const form = readForm(page, 'account-password-form');
    const forged = await browser.request(form.action, {
      form: { ...form.fields, csrf: 'forged', current: OLD, password: NEW, repeat: NEW },
    });
    expect(forged.status).toBe(403);

    const wrong = await submit(browser, page, { current: 'not my password at all', password: NEW });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatch(
      /<div id="password-error" class="alert" role="alert">\s*<p>Your current password is not right.<\/p>/,
    );
    expect(wrong.body).toMatch(
      /<input id="current"[^>]* aria-invalid="true" aria-describedby="password-error">/,
    );
    const mismatch = await submit(browser, wrong, { current: OLD, password: NEW, repeat: `${NEW}!` });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body).toContain('The two new passwords are not the same.');
    const weak = await submit(browser, mismatch, { current: OLD, password: 'lotte123' });
    expect(weak.body).toContain('It must have at least 12 characters.');
    expect(weak.body).toContain('It must not contain your username or e-mail address.');
    expect(weak.body).toMatch(
      /<input id="password"[^>]* aria-describedby="password-hint password-error" autofocus aria-invalid="true">/,
    );
    const same = await submit(browser, weak, { current: OLD, password: OLD });
    expect(same.body).toContain('The new password is your current one. Choose another.');
    expect(await poort.services.directory.authenticate('lotte', OLD)).toMatchObject({ ok: true }); // unchanged so far

    const done = await submit(browser, same, { current: OLD, password: NEW });
    expect(done.status).toBe(200);
    expect(done.body).toContain('<h1>Your password has been changed</h1>');
    expect(done.body).toContain(
      '<p role="status">You are signed out on every device and in every application.',
    );
    expect(done.headers.getSetCookie().find((c) => c.startsWith('poort_account='))).toMatch(/Max-Age=0/);
    expect(await poort.services.directory.authenticate('lotte', OLD)).toMatchObject({ ok: false });
    expect(await poort.services.directory.authenticate('lotte', NEW)).toMatchObject({ ok: true });
    // the phone's session and the application's tokens are gone; this browser signs in again
    await expectSignedOut(app, REDIRECT, phone, tokens, userId);
    expect((await browser.request(`${poort.issuer}${SECURITY}`)).status).toBe(303);

    const events = await changes(since);
    expect(events.map((e) => [e.outcome, e.reason ?? null])).toEqual([
      ['failure', 'wrong_password'],
      ['failure', 'password_mismatch'],
      ['failure', 'password_policy'],
      ['failure', 'same_password'],
      ['success', null],
    ]);
    for (const e of events)
      expect(e).toMatchObject({
        actor: { type: 'user', id: userId, name: 'lotte' },
        subject: { id: userId, username: 'lotte' },
        application: { id: 'poort-account' },
        source: { ip: '127.0.0.1' },
        details: { via: 'account' },
      });
    expect(events[2]!.details).toMatchObject({ violations: ['too_short', 'contains_user_info'] });
    expect(events[4]!.details).toEqual({ signed_out_everywhere: true, via: 'account' });
    const trail = JSON.stringify(events);
    for (const secretText of [OLD, NEW, 'not my password at all']) expect(trail).not.toContain(secretText);
  });

  it('keeps other sessions and this visit when the box is cleared', async () => {
    const userId = await poort.addUser({ username: 'mees', password: OLD, email: 'mees@acme.example' });
    const phone = new Browser();
    const { tokens } = await signIn(
      app,
      phone,
      { username: 'mees', password: OLD },
      { redirectUri: REDIRECT },
    );
    const browser = new Browser();
    const page = await passwordPage(browser, (await accountSignIn(poort, 'mees', OLD, { browser })).page);
    const since = await lastSeq();
    const done = await submit(browser, page, { current: OLD, password: NEW, everywhere: false });
    expect(done.status).toBe(303);
    const security = await browser.navigate(new URL(done.headers.get('location')!, done.url).href);
    expect(security.url).toBe(`${poort.issuer}${SECURITY}?done=password`);
    expect(security.body).toContain('<p role="status"><strong>Your password is changed.');
    expect(await oidc.tokenIntrospection(app, tokens.access_token)).toMatchObject({
      active: true,
      sub: userId,
    });
    expect(await canSignIn('mees', NEW)).toBe(true);
    expect((await changes(since)).map((e) => e.details)).toEqual([
      { signed_out_everywhere: false, via: 'account' },
    ]);
  });

  it('counts wrong current passwords with the sign-in page’s, per account', async () => {
    await poort.addUser({ username: 'nina', password: OLD, email: 'nina@acme.example' });
    const browser = new Browser();
    let page = await passwordPage(browser, (await accountSignIn(poort, 'nina', OLD, { browser })).page);
    const since = await lastSeq();
    for (let i = 0; i < 2; i++) {
      page = await submit(browser, page, { current: `wrong guess ${i}`, password: NEW });
      expect(page.status).toBe(400);
    }
    expect(await canSignIn('nina', 'one more wrong guess')).toBe(false); // the third: the delay begins
    page = await submit(browser, page, { current: OLD, password: NEW });
    expect(page.status).toBe(429);
    expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(page.body).toMatch(/Too many attempts. Try again in \d+ seconds./);
    expect((await changes(since)).map((e) => [e.outcome, e.reason])).toEqual([
      ['failure', 'wrong_password'],
      ['failure', 'wrong_password'],
      ['denied', 'throttled'],
    ]);
    expect(await poort.services.directory.authenticate('nina', OLD)).toMatchObject({ ok: true });
  });

  it('counts a wrong current password as a failed attempt for the policies, as the sign-in page does', async () => {
    await poort.addUser({ username: 'pia', password: OLD, email: 'pia@acme.example' });
    const browser = new Browser();
    let page = await passwordPage(browser, (await accountSignIn(poort, 'pia', OLD, { browser })).page);
    for (let i = 0; i < 2; i++)
      page = await submit(browser, page, { current: `wrong guess ${i}`, password: NEW });
    // the right password now: the policy's recent-failures rule refuses the sign-in
    const pending = await startAuthorization(app, { redirectUri: REDIRECT });
    const denied = await authorizeInBrowser(new Browser(), pending, { username: 'pia', password: OLD });
    expect(denied.status).toBe(403);
    expect(denied.body).toContain('Sign-in not allowed');
  });

  it('lets a user without a password set one, in Dutch', async () => {
    const userId = await poort.addUser({ username: 'otto', password: OLD, email: 'otto@acme.example' });
    const browser = new Browser({ 'accept-language': 'nl' });
    const { page: security } = await accountSignIn(poort, 'otto', OLD, { browser });
    // the password is gone (as for someone who signs in with a passkey), this visit stays
    await poort.services.db
      .updateTable('users')
      .set({ password_hash: null })
      .where('id', '=', userId)
      .execute();
    const overview = await browser.navigate(security.url);
    expect(overview.body).toContain('U heeft geen wachtwoord: u meldt zich aan met een passkey.');
    const href = /<a href="([^"]+)">Een wachtwoord instellen<\/a>/.exec(overview.body)?.[1];
    const page = await browser.navigate(new URL(href!, overview.url).href);
    expect(page.body).toContain('<html lang="nl">');
    expect(page.body).toContain('<h1>Een wachtwoord instellen</h1>');
    expect(page.body).not.toContain('id="current"');
    const done = await submit(browser, page, { password: NEW, everywhere: false });
    expect(done.status).toBe(303);
    expect(await canSignIn('otto', NEW)).toBe(true);
  });
});
