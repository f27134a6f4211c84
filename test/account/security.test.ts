import { generate } from 'otplib';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_CLIENT_ID, accountClientSecret } from '../../src/account/client.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { Browser, cookieKey, decodeEntities, readForm, type Page } from '../helpers/browser.js';
import {
  expectSignedOut,
  FAST_ARGON2,
  isPasswordForm,
  relyingParty,
  signIn,
  signOutOfPoort,
  submitPassword,
} from '../helpers/oidc.js';
import { accountSignIn } from '../helpers/account.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'a passphrase nobody guesses';
const SECURITY = '/account/security';
const MAIL_REDIRECT = 'http://127.0.0.1:7941/cb';
const MAIL_SECRET = 'mail-secret-0123456789';

/** The code an authenticator app shows now, or `steps` periods away. */
const codeAt = (secret: string, steps = 0) =>
  generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

function shownKey(page: Page): string {
  const match = /id="totp-key">([^<]+)</.exec(page.body);
  if (!match) throw new Error(`no key on ${page.url} (${page.status}):\n${page.body.slice(0, 800)}`);
  return decodeEntities(match[1]!).replace(/\s+/g, '');
}

function link(page: Page, pattern: RegExp): string {
  const href = [...page.body.matchAll(/href="([^"]+)"/g)]
    .map((m) => decodeEntities(m[1]!))
    .find((h) => pattern.test(h));
  if (!href) throw new Error(`no link ${pattern} on ${page.url}:\n${page.body.slice(0, 800)}`);
  return new URL(href, page.url).href;
}

async function events(poort: TestPoort, action: string): Promise<AuditEvent[]> {
  const stored = await poort.services.audit.query({ limit: 200 });
  return stored.map((s) => s.event).filter((e) => e.action === action);
}

describe('the security page (/account/security)', () => {
  let poort: TestPoort;
  let userId: string;
  let phoneSecret: string;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    userId = await poort.addUser({ username: 'ines', password: PASSWORD, name: 'Ines Smit' });
    phoneSecret = newTotpSecret();
    await poort.services.factors.add({ userId, kind: 'totp', name: 'Phone', secret: phoneSecret });
  });
  afterAll(async () => poort?.stop());

  const signedIn = (username: string, secret?: string, browser = new Browser()) =>
    accountSignIn(poort, username, PASSWORD, { browser, ...(secret ? { totpSecret: secret } : {}) });

  it('sends a visitor without an account session to sign in, always with a fresh password', async () => {
    const first = await new Browser().request(`${poort.issuer}${SECURITY}`);
    expect(first.status).toBe(303);
    const location = new URL(first.headers.get('location')!, poort.issuer);
    expect(location.pathname).toBe('/auth');
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      prompt: 'login',
      max_age: '0',
      code_challenge_method: 'S256',
      redirect_uri: `${poort.issuer}/account/callback`,
    });
    expect(first.headers.get('cache-control')).toBe('no-store');
    const loginCookie = first.headers.getSetCookie().find((c) => c.startsWith('poort_account_login='))!;
    expect(loginCookie).toMatch(/; Path=\/account; Max-Age=600; HttpOnly; SameSite=Lax$/);
  });

  it('signs in (password and second factor), sets a short-lived account cookie, and lists the factors', async () => {
    const browser = new Browser();
    const { page, callback } = await signedIn('ines', phoneSecret, browser);
    expect(page.status).toBe(200);
    expect(page.url).toBe(`${poort.issuer}${SECURITY}`);
    expect(page.body).toContain('Ines Smit');
    expect(page.body).toContain('<h3>Phone</h3>');
    expect(page.body).toContain('Authenticator app');
    const cookie = callback.headers.getSetCookie().find((c) => c.startsWith('poort_account='))!;
    expect(cookie).toMatch(
      /^poort_account=[\w-]+\.[\w-]+; Path=\/account; Max-Age=600; HttpOnly; SameSite=Lax$/,
    );
    expect(cookie).not.toContain('Secure'); // the test issuer is http; https adds it

    // Without the account cookie the same browser, still signed in to Poort, is asked for the password again.
    const again = await browser.navigate(`${poort.issuer}${SECURITY}`);
    expect(again.status).toBe(200);
    browser.cookies.delete(cookieKey('localhost', 'poort_account', '/account'));
    expect(isPasswordForm(await browser.navigate(`${poort.issuer}${SECURITY}`))).toBe(true);
  });

  it('refuses a callback that this browser did not start, and a tampered account cookie', async () => {
    const browser = new Browser();
    const forged = await browser.request(`${poort.issuer}/account/callback?code=abc&state=someone-elses`);
    expect(forged.status).toBe(303);
    expect(forged.headers.get('location')).toBe(SECURITY);
    browser.cookies.set(cookieKey('localhost', 'poort_account', '/account'), {
      name: 'poort_account',
      value: 'abc.def',
      path: '/account',
      host: 'localhost',
    });
    const tampered = await browser.request(`${poort.issuer}${SECURITY}`);
    expect(tampered.status).toBe(303);
    expect(tampered.headers.get('location')).toMatch(/^\/auth\?/);
  });

  it('adds a TOTP factor, renames it and removes it (after confirming), auditing each change', async () => {
    const browser = new Browser();
    const maud = await poort.addUser({ username: 'maud', password: PASSWORD });
    const { page } = await signedIn('maud', undefined, browser);
    expect(page.body).toContain('You have not set up a second factor yet.');

    const setup = await browser.navigate(link(page, /\/account\/security\/add\/totp$/));
    expect(setup.status).toBe(200);
    expect(setup.body).not.toContain('remember_device'); // no sign-in here: nothing to remember
    const key = shownKey(setup);
    const form = readForm(setup);
    const wrong = await browser.request(form.action, { form: { ...form.fields, code: '000000' } });
    expect(wrong.status).toBe(400);
    expect(shownKey(wrong)).toBe(key);
    const added = await browser.navigate(form.action, {
      form: { ...form.fields, name: 'Tablet', code: await codeAt(key) },
    });
    expect(added.url).toBe(`${poort.issuer}${SECURITY}?done=added`);
    expect(added.body).toContain('role="status"');
    expect(added.body).toContain('<h3>Tablet</h3>');
    const [tablet] = await poort.services.factors.list(maud);
    expect(tablet).toMatchObject({ kind: 'totp', name: 'Tablet' });
    expect((await events(poort, 'mfa.enrolled'))[0]).toMatchObject({
      actor: { type: 'user', id: maud },
      application: { id: ACCOUNT_CLIENT_ID },
      details: { factor: 'totp', factor_id: tablet!.id, via: 'account' },
    });

    const renamePage = await browser.navigate(link(added, new RegExp(`/factors/${tablet!.id}/rename$`)));
    const renameForm = readForm(renamePage);
    expect(renameForm.fields.name).toBe('Tablet');
    const renamed = await browser.navigate(renameForm.action, {
      form: { ...renameForm.fields, name: 'Old tablet' },
    });
    expect(renamed.body).toContain('<h3>Old tablet</h3>');
    expect((await events(poort, 'mfa.renamed'))[0]).toMatchObject({
      subject: { id: maud },
      details: { factor_id: tablet!.id, name: 'Old tablet', previous_name: 'Tablet', via: 'account' },
    });

    const confirm = await browser.navigate(link(renamed, new RegExp(`/factors/${tablet!.id}/remove$`)));
    expect(confirm.status).toBe(200);
    expect(confirm.body).toContain('Old tablet');
    expect(await poort.services.factors.get(tablet!.id)).toBeDefined(); // nothing happens before confirming
    const removed = await browser.navigate(readForm(confirm).action, { form: readForm(confirm).fields });
    expect(removed.url).toBe(`${poort.issuer}${SECURITY}?done=removed`);
    expect(removed.body).not.toContain('Old tablet');
    expect(await poort.services.factors.get(tablet!.id)).toBeUndefined();
    expect((await events(poort, 'mfa.removed'))[0]).toMatchObject({
      details: { factor: 'totp', factor_id: tablet!.id, via: 'account' },
    });
    expect(JSON.stringify(await poort.services.audit.query({ limit: 100 }))).not.toContain(key);
  });

  it('enforces CSRF tokens bound to the account session, and touches only the user’s own factors', async () => {
    const browser = new Browser();
    const noor = await poort.addUser({ username: 'noor', password: PASSWORD });
    const secret = newTotpSecret();
    const phone = await poort.services.factors.add({ userId: noor, kind: 'totp', name: 'Phone', secret });
    const { page } = await signedIn('noor', secret, browser);
    const renameUrl = link(page, /\/rename$/);
    const forged = await browser.request(renameUrl, { form: { csrf: 'forged', name: 'Hacked' } });
    expect(forged.status).toBe(403);
    // A token of another account session is refused too.
    await poort.addUser({ username: 'otto', password: PASSWORD });
    const other = await signedIn('otto');
    const otherToken = readForm(other.page).fields.csrf!;
    expect((await browser.request(renameUrl, { form: { csrf: otherToken, name: 'Hacked' } })).status).toBe(
      403,
    );
    expect((await poort.services.factors.get(phone.id))!.name).toBe('Phone');
    const stranger = await poort.addUser({ username: 'joop', password: PASSWORD });
    const theirs = await poort.services.factors.add({
      userId: stranger,
      kind: 'totp',
      name: 'Theirs',
      secret: newTotpSecret(),
    });
    const csrf = readForm(page).fields.csrf!;
    const remove = await browser.request(`${poort.issuer}${SECURITY}/factors/${theirs.id}/remove`, {
      form: { csrf },
    });
    expect(remove.status).toBe(404);
    expect(await poort.services.factors.get(theirs.id)).toBeDefined();
    // Without an account session a change is not made: back to the page, which asks to sign in.
    const anonymous = await new Browser().request(renameUrl, { form: { csrf, name: 'Hacked' } });
    expect(anonymous.status).toBe(303);
    expect((await poort.services.factors.get(phone.id))!.name).toBe('Phone');
  });

  it('makes new recovery codes, shown once, and signs out', async () => {
    const browser = new Browser();
    const pim = await poort.addUser({ username: 'pim', password: PASSWORD });
    const { page } = await signedIn('pim', undefined, browser);
    const confirm = await browser.navigate(link(page, /\/account\/security\/recovery$/));
    const shown = await browser.navigate(readForm(confirm).action, { form: readForm(confirm).fields });
    expect(shown.status).toBe(200);
    const codes = [...shown.body.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(codes).toHaveLength(10);
    expect(shown.headers.get('cache-control')).toBe('no-store');
    expect((await events(poort, 'mfa.recovery_codes.generated'))[0]).toMatchObject({
      subject: { id: pim },
      details: { count: 10, via: 'account' },
    });
    const trail = JSON.stringify(await poort.services.audit.query({ limit: 100 }));
    for (const code of codes) expect(trail).not.toContain(code);

    const overview = await browser.navigate(`${poort.issuer}${SECURITY}`);
    expect(overview.body).toContain('You have 10 unused recovery codes.');
    const signout = readForm(overview, 'account-signout');
    expect(new URL(signout.action).pathname).toBe('/account/signout');
    const out = await browser.request(signout.action, { form: signout.fields });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe(`/session/end?client_id=${ACCOUNT_CLIENT_ID}`);
    expect(out.headers.getSetCookie().find((c) => c.startsWith('poort_account='))).toMatch(/Max-Age=0/);
    expect((await browser.request(`${poort.issuer}${SECURITY}`)).status).toBe(303);
  });

  it('ends the visit when the user signs out of Poort elsewhere (single sign-on logout), not before', async () => {
    await poort.addUser({ username: 'olaf', password: PASSWORD });
    const browser = new Browser();
    await signedIn('olaf', undefined, browser);
    const other = new Browser();
    await signedIn('olaf', undefined, other);
    expect((await browser.request(`${poort.issuer}${SECURITY}`)).status).toBe(200);
    // Poort's own logout page, reached from any application
    await signOutOfPoort(browser, `${poort.issuer}/session/end`);
    const after = await browser.request(`${poort.issuer}${SECURITY}`);
    expect(after.status).toBe(303);
    expect(new URL(after.headers.get('location')!, poort.issuer).pathname).toBe('/auth');
    // the same person's visit in another browser had a sign-on of its own, which goes on
    expect((await other.request(`${poort.issuer}${SECURITY}`)).status).toBe(200);
  });

  it('signs the user out on every device and in every application, this visit included', async () => {
    const nadiaId = await poort.addUser({ username: 'nadia', password: PASSWORD });
    await poort.addClient({ clientId: 'mail', secret: MAIL_SECRET, redirectUris: [MAIL_REDIRECT] });
    const mail = await relyingParty(poort, 'mail', MAIL_SECRET);
    // signed in to an application on another device
    const phone = new Browser();
    const nadia = { username: 'nadia', password: PASSWORD };
    const { tokens } = await signIn(mail, phone, nadia, { redirectUri: MAIL_REDIRECT });

    const browser = new Browser();
    const { page } = await signedIn('nadia', undefined, browser);
    expect(page.body).toContain('<h2 id="account-everywhere">Sign out everywhere</h2>');
    const form = readForm(page, 'account-everywhere-form');
    expect(new URL(form.action).pathname).toBe(`${SECURITY}/signout-everywhere`);
    // without the CSRF token of this visit nothing happens
    expect((await browser.request(form.action, { form: { csrf: 'forged' } })).status).toBe(403);
    expect(await oidc.tokenIntrospection(mail, tokens.access_token)).toMatchObject({ active: true });

    const done = await browser.request(form.action, { form: form.fields });
    expect(done.status).toBe(200);
    expect(done.body).toContain(
      '<p role="status">You are signed out on every device and in every application.',
    );
    expect(done.headers.getSetCookie().find((c) => c.startsWith('poort_account='))).toMatch(/Max-Age=0/);
    // the other device: asked for the password; the application's tokens no longer work
    await expectSignedOut(mail, MAIL_REDIRECT, phone, tokens, nadiaId);
    // this browser: the security page asks for a new sign-in
    expect((await browser.request(`${poort.issuer}${SECURITY}`)).status).toBe(303);
    expect((await events(poort, 'logout')).find((e) => e.subject?.id === nadiaId)).toMatchObject({
      outcome: 'success',
      actor: { type: 'user', id: nadiaId },
      application: { id: ACCOUNT_CLIENT_ID },
      details: { everywhere: true, via: 'account' },
    });
    // not a lock-out: the same password signs in again
    await signIn(mail, phone, nadia, { redirectUri: MAIL_REDIRECT });

    const dutch = await signedIn('nadia', undefined, new Browser({ 'accept-language': 'nl' }));
    expect(dutch.page.body).toContain('>Afmelden op alle apparaten</button>');
  });

  it('registers poort-account as a confidential first-party client that only Poort can use', async () => {
    const metadata = await poort.services.clients.metadata(ACCOUNT_CLIENT_ID);
    expect(metadata).toMatchObject({
      client_id: ACCOUNT_CLIENT_ID,
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [`${poort.issuer}/account/callback`],
      poort_first_party: true,
      poort_require_pkce: true,
    });
    expect(metadata!.client_secret).toBe(accountClientSecret(poort.services.secrets));
    expect((await poort.services.clients.list()).map((c) => c.clientId)).not.toContain(ACCOUNT_CLIENT_ID);
    await expect(
      poort.services.clients.add({
        clientId: ACCOUNT_CLIENT_ID,
        secret: 'another-secret-0123456789',
        redirectUris: ['https://evil.example/cb'],
        postLogoutRedirectUris: [],
        grantTypes: ['authorization_code'],
        firstParty: true,
        requirePkce: false,
      }),
    ).rejects.toThrow(/account pages/);
  });
});

describe('the security page where second factors are optional (mfa.required: never)', () => {
  let poort: TestPoort;

  beforeAll(async () => {
    poort = await startPoort(`${FAST_ARGON2}mfa: { required: never }\n`);
  });
  afterAll(async () => poort?.stop());

  it('asks a user who has a factor for it as well, so a password alone cannot change their factors', async () => {
    const userId = await poort.addUser({ username: 'kees', password: PASSWORD });
    const secret = newTotpSecret();
    await poort.services.factors.add({ userId, kind: 'totp', name: 'Phone', secret });
    const browser = new Browser();
    const start = await browser.navigate(`${poort.issuer}${SECURITY}`);
    const mfa = await submitPassword(browser, start, 'kees', PASSWORD, `${poort.issuer}/nowhere`);
    expect(mfa.url).toMatch(/\/mfa$/);
    const page = await browser.navigate(readForm(mfa).action, {
      form: { ...readForm(mfa).fields, code: await codeAt(secret) },
    });
    expect(page.url).toBe(`${poort.issuer}${SECURITY}`);
    expect(page.body).toContain('<h3>Phone</h3>');
  });

  it('lets a user without a factor in with the password, to add one', async () => {
    await poort.addUser({ username: 'lot', password: PASSWORD });
    const browser = new Browser();
    const start = await browser.navigate(`${poort.issuer}${SECURITY}`);
    const page = await submitPassword(browser, start, 'lot', PASSWORD, `${poort.issuer}/nowhere`);
    expect(page.url).toBe(`${poort.issuer}${SECURITY}`);
    expect(page.body).toContain('You have not set up a second factor yet.');
  });
});

describe('the security page where every sign-in needs a second factor (mfa.required: always)', () => {
  let poort: TestPoort;

  beforeAll(async () => {
    poort = await startPoort(`${FAST_ARGON2}mfa: { required: always }\n`);
  });
  afterAll(async () => poort?.stop());

  it('does not remove the only factor: the user adds another one first', async () => {
    const userId = await poort.addUser({ username: 'rik', password: PASSWORD });
    const secret = newTotpSecret();
    const only = await poort.services.factors.add({ userId, kind: 'totp', name: 'Phone', secret });
    const browser = new Browser();
    const start = await browser.navigate(`${poort.issuer}${SECURITY}`);
    const mfa = await submitPassword(browser, start, 'rik', PASSWORD, `${poort.issuer}/nowhere`);
    const page = await browser.navigate(readForm(mfa).action, {
      form: { ...readForm(mfa).fields, code: await codeAt(secret) },
    });
    const confirm = await browser.navigate(link(page, /\/remove$/));
    expect(confirm.status).toBe(200);
    expect(confirm.body).toContain('Add another method first');
    expect(confirm.body).not.toContain('<form method="post" action="/account/security/factors');
    const csrf = readForm(page).fields.csrf!;
    const refused = await browser.request(`${poort.issuer}${SECURITY}/factors/${only.id}/remove`, {
      form: { csrf },
    });
    expect(refused.status).toBe(409);
    expect(refused.body).toContain('role="alert"');
    expect(await poort.services.factors.get(only.id)).toBeDefined();
    expect(await events(poort, 'mfa.removed')).toEqual([]);
  });
});
