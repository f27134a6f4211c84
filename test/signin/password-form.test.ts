import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  isPasswordForm,
  redeemCode,
  relyingParty,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'http://127.0.0.1:7777/cb';

let poort: TestPoort;
let config: oidc.Configuration;

beforeAll(async () => {
  poort = await startPoort(FAST_ARGON2);
  await poort.addUser({ username: 'anna', password: PASSWORD });
  await poort.addUser({ username: 'bert', password: PASSWORD });
  await poort.services.users.setEnabled('bert', false);
  await poort.services.users.create({ username: 'carla', email: 'carla@example.org' });
  await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
  config = await relyingParty(poort, 'app', 'app-secret-0123456789');
});
afterAll(async () => poort?.stop());

/** A browser on the password form of a fresh authorization request. */
async function openSignIn() {
  const browser = new Browser();
  const page = await browser.navigate((await startAuthorization(config, { redirectUri: REDIRECT })).url.href);
  expect(isPasswordForm(page)).toBe(true);
  const form = readForm(page);
  const uid = /\/signin\/([^/]+)\/login$/.exec(form.action)![1]!;
  const post = (fields: Record<string, string>): Promise<Page> =>
    browser.navigate(form.action, { form: fields }, REDIRECT);
  return { browser, page, form, uid, post };
}

/** Whether the browser is still signed out: a new authorization request asks for the password. */
async function signedOut(browser: Browser): Promise<boolean> {
  return isPasswordForm(
    await authorizeInBrowser(browser, await startAuthorization(config, { redirectUri: REDIRECT })),
  );
}

describe('the sign-in form', () => {
  it('comes with the answer to the authorization request itself, no redirect first, and signs in', async () => {
    const browser = new Browser();
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    const page = await browser.request(pending.url.href);
    expect(page.status).toBe(200);
    expect(page.headers.get('location')).toBeNull();
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(isPasswordForm(page)).toBe(true);
    const form = readForm(page);
    const uid = /\/signin\/([^/]+)\/login$/.exec(form.action)![1]!;
    // the interaction's cookies as oidc-provider sets them for its own redirect: the form's and the resume's
    const cookies = page.headers.getSetCookie();
    expect(cookies.some((c) => c.startsWith('_interaction=') && c.includes(`path=/signin/${uid}`))).toBe(
      true,
    );
    expect(cookies.some((c) => c.startsWith('_interaction_resume=') && c.includes(`path=/auth/${uid}`))).toBe(
      true,
    );
    // the interaction's own address (a reload, the language switch) shows the same form
    const again = await browser.request(`${poort.issuer}/signin/${uid}?lang=nl`);
    expect(isPasswordForm(again)).toBe(true);
    expect(readForm(again).fields.csrf).toBe(form.fields.csrf);
    expect(again.body).toContain('<html lang="nl">');

    const callback = await browser.navigate(
      form.action,
      { form: { ...form.fields, username: 'anna', password: PASSWORD } },
      REDIRECT,
    );
    expect(callback.status).toBe(0);
    const tokens = await redeemCode(config, callback, pending);
    expect(tokens.claims()?.sub).toBeTruthy();
  });

  it('is asked for again, at once, when the application wants a fresh sign-in of a signed-in user', async () => {
    const { browser, form, post } = await openSignIn();
    expect((await post({ ...form.fields, username: 'anna', password: PASSWORD })).status).toBe(0);
    const pending = await startAuthorization(config, { redirectUri: REDIRECT, params: { prompt: 'login' } });
    const page = await browser.request(pending.url.href);
    expect(page.status).toBe(200);
    expect(isPasswordForm(page)).toBe(true);
  });
});

describe('a failed sign-in looks the same whatever the reason', () => {
  /** The page without what differs per request by design: the interaction, its CSRF token and the name typed. */
  const normalise = (page: Page, username: string) =>
    page.body
      .replace(/\/signin\/[A-Za-z0-9_-]+/g, '/signin/UID')
      .replace(/name="csrf" value="[^"]*"/g, 'name="csrf" value="CSRF"')
      .replaceAll(`value="${username}"`, 'value="USERNAME"');

  it('shows the same page, with the same status, for a wrong password, an unknown, a disabled and a password-less user', async () => {
    const cases = [
      ['anna', 'wrong password'],
      ['nobody', 'wrong password'],
      ['bert', PASSWORD],
      ['carla', PASSWORD],
    ] as const;
    const pages: Array<{ status: number; body: string }> = [];
    for (const [username, password] of cases) {
      const { form, post } = await openSignIn();
      const page = await post({ ...form.fields, username, password });
      pages.push({ status: page.status, body: normalise(page, username) });
    }
    expect(pages[0]!.status).toBe(401);
    expect(pages[0]!.body).toMatch(/role="alert"[\s\S]*Incorrect username or password\./);
    for (const other of pages.slice(1)) {
      expect(other.status).toBe(pages[0]!.status);
      expect(other.body).toBe(pages[0]!.body);
    }
  });

  it('keeps the typed username in the form, escaped', async () => {
    const { form, post } = await openSignIn();
    const page = await post({ ...form.fields, username: '"><script>x</script>', password: 'whatever it is' });
    expect(page.status).toBe(401);
    expect(page.body).not.toContain('<script>x</script>');
    expect(page.body).toContain('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
  });
});

describe('CSRF protection of the sign-in form', () => {
  it('refuses a post without the csrf field with 403, and does not sign in', async () => {
    const { browser, form, post } = await openSignIn();
    const { csrf: _dropped, ...withoutCsrf } = form.fields;
    const page = await post({ ...withoutCsrf, username: 'anna', password: PASSWORD });
    expect(page.status).toBe(403);
    expect(page.body).toContain('<code>csrf</code>');
    expect(await signedOut(browser)).toBe(true);
  });

  it('refuses a wrong token, and the token of another sign-in, with 403', async () => {
    const { browser, form, post } = await openSignIn();
    const other = await openSignIn();
    for (const csrf of [
      'x',
      '',
      other.form.fields.csrf!,
      form.fields.csrf!.toUpperCase(),
      'A'.repeat(5000),
    ]) {
      const page = await post({ ...form.fields, csrf, username: 'anna', password: PASSWORD });
      expect(page.status, csrf.slice(0, 20)).toBe(403);
    }
    expect(await signedOut(browser)).toBe(true);
    // The form still works with its own token afterwards.
    expect((await post({ ...form.fields, username: 'anna', password: PASSWORD })).status).toBe(0);
  });

  it('refuses a post from a browser without the interaction cookie (a cross-site form)', async () => {
    const { form } = await openSignIn();
    const stranger = new Browser();
    const page = await stranger.navigate(
      form.action,
      { form: { ...form.fields, username: 'anna', password: PASSWORD } },
      REDIRECT,
    );
    expect(page.status).toBe(400);
    expect(page.body).toContain('<code>session_expired</code>');
  });
});

describe('expired and unknown sign-ins', () => {
  it('shows the session_expired page (400) for an unknown interaction', async () => {
    const browser = new Browser();
    for (const page of [
      await browser.request(`${poort.issuer}/signin/unknown-uid`),
      await browser.request(`${poort.issuer}/signin/unknown-uid/login`, {
        form: { csrf: 'x', username: 'anna', password: PASSWORD },
      }),
      await browser.request(`${poort.issuer}/signin/unknown-uid/consent`, {
        form: { csrf: 'x', decision: 'allow' },
      }),
    ]) {
      expect(page.status).toBe(400);
      expect(page.body).toContain('Your sign-in took too long.');
      expect(page.body).toContain('<code>session_expired</code>');
    }
  });

  it('shows the session_expired page when the interaction has expired', async () => {
    const { uid, form, post, browser } = await openSignIn();
    // What the store's expiry does after oidc.ttl.interaction, done at once (expiry itself is tested with the store).
    await poort.services.kv.delete(`oidc:Interaction:${uid}`);
    const page = await post({ ...form.fields, username: 'anna', password: PASSWORD });
    expect(page.status).toBe(400);
    expect(page.body).toContain('<code>session_expired</code>');
    expect((await browser.request(`${poort.issuer}/signin/${uid}`)).status).toBe(400);
  });

  it("shows the session_expired page for another browser's interaction", async () => {
    const mine = await openSignIn();
    const theirs = await openSignIn();
    const page = await mine.browser.request(`${poort.issuer}/signin/${theirs.uid}`);
    expect(page.status).toBe(400);
    expect(page.body).toContain('<code>session_expired</code>');
  });
});

describe('missing and oversized input', () => {
  it('asks again for an empty username or password, without counting an attempt', async () => {
    const { form, post } = await openSignIn();
    for (const [username, password] of [
      ['', PASSWORD],
      ['dora', ''],
      ['   ', PASSWORD],
    ] as const) {
      const page = await post({ ...form.fields, username, password });
      expect(page.status).toBe(400);
      expect(page.body).toMatch(/role="alert"[\s\S]*Enter your username and password\./);
    }
    expect(await poort.services.kv.get('throttle:account:dora')).toBeUndefined();
  });

  it('answers a very long username or password as a failed attempt, not an error', async () => {
    const { form, post } = await openSignIn();
    expect((await post({ ...form.fields, username: 'a'.repeat(5000), password: PASSWORD })).status).toBe(401);
    expect((await post({ ...form.fields, username: 'anna', password: 'p'.repeat(12_000) })).status).toBe(401);
  });

  it('answers a username with a NUL character as a failed attempt, on every store', async () => {
    const { form, post } = await openSignIn();
    expect((await post({ ...form.fields, username: 'an\u0000na', password: PASSWORD })).status).toBe(401);
  });

  it('refuses an oversized form or too many fields with a 4xx page', async () => {
    const { form, post } = await openSignIn();
    const huge = await post({ ...form.fields, username: 'anna', password: 'p'.repeat(1024 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.headers.get('content-type')).toMatch(/^text\/html/);
    const many = await post({
      ...form.fields,
      ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, 'x'])),
    });
    expect(many.status).toBeGreaterThanOrEqual(400);
    expect(many.status).toBeLessThan(500);
  });
});
