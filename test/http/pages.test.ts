import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { securityHeaders } from '../../src/http/security-headers.js';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import { FAST_ARGON2, isPasswordForm, relyingParty, startAuthorization } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'http://127.0.0.1:7777/cb';

let poort: TestPoort;
let config: oidc.Configuration;

beforeAll(async () => {
  poort = await startPoort(FAST_ARGON2);
  await poort.addUser({ username: 'anna', password: PASSWORD });
  await poort.addClient({
    clientId: 'app',
    name: 'Team Wiki',
    secret: 'app-secret-0123456789',
    redirectUris: [REDIRECT],
  });
  config = await relyingParty(poort, 'app', 'app-secret-0123456789');
});
afterAll(async () => poort?.stop());

/** Opens a fresh authorization request in `browser` and returns the sign-in page. */
async function signInPage(browser = new Browser(), path = ''): Promise<Page> {
  const page = await browser.navigate((await startAuthorization(config, { redirectUri: REDIRECT })).url.href);
  expect(isPasswordForm(page)).toBe(true);
  return path ? browser.request(new URL(path, page.url).href) : page;
}

/** The address of the sign-in a page belongs to (/signin/:uid), from its form. */
function interactionUrl(page: Page): string {
  return readForm(page).action.replace(/\/login$/, '');
}

function expectStrictHeaders(page: Page): void {
  const csp = page.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("base-uri 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).not.toContain('unsafe-eval');
  expect(page.headers.get('x-frame-options')).toBe('DENY');
  expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  expect(page.headers.get('referrer-policy')).toBe('no-referrer');
  expect(page.headers.get('x-powered-by')).toBeNull();
  expect(page.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
}

describe('security headers', () => {
  it('sends strict headers with the sign-in page, which no one may cache', async () => {
    const page = await signInPage();
    expectStrictHeaders(page);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('strict-transport-security')).toBeNull();
  });

  it('sends them with error pages and protocol answers too', async () => {
    const browser = new Browser();
    for (const path of [
      '/auth?client_id=nobody',
      '/signin/unknown',
      '/.well-known/openid-configuration',
      '/jwks',
      '/no-such-page',
      '/healthz',
    ]) {
      expectStrictHeaders(await browser.request(`${poort.issuer}${path}`));
    }
  });

  it('adds HSTS only when the issuer is https', () => {
    const set = (https: boolean) => {
      const headers = new Map<string, string>();
      const res = { setHeader: (name: string, value: string) => headers.set(name.toLowerCase(), value) };
      securityHeaders({ https })(res as never);
      return headers;
    };
    expect(set(true).get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
    expect(set(false).has('strict-transport-security')).toBe(false);
  });

  it('marks every cookie of a sign-in HttpOnly and SameSite=Lax', async () => {
    const cookies: string[] = [];
    const browser = new Browser();
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    // the sign-in page comes with the answer to the authorization request
    const page = await browser.request(pending.url.href);
    cookies.push(...page.headers.getSetCookie());
    const languageSwitch = await browser.request(`${interactionUrl(page)}?lang=nl`);
    cookies.push(...languageSwitch.headers.getSetCookie());
    const form = readForm(page);
    let next = await browser.request(form.action, {
      form: { ...form.fields, username: 'anna', password: PASSWORD },
    });
    while (next.status >= 300 && next.status < 400 && !next.headers.get('location')!.startsWith(REDIRECT)) {
      cookies.push(...next.headers.getSetCookie());
      next = await browser.request(new URL(next.headers.get('location')!, next.url).href);
    }
    cookies.push(...next.headers.getSetCookie());

    const names = new Set(cookies.map((c) => c.split('=')[0]));
    expect(names).toContain('_interaction');
    expect(names).toContain('_session');
    expect(names).toContain('poort_lang');
    for (const cookie of cookies) {
      expect(cookie, cookie).toMatch(/;\s*httponly/i);
      expect(cookie, cookie).toMatch(/;\s*samesite=lax/i);
    }
  });
});

describe('sign-in page', () => {
  it('is a labelled form a password manager and a screen reader understand', async () => {
    const page = await signInPage();
    expect(page.body).toMatch(/^<!doctype html>\s*<html lang="en">/);
    expect(page.body).toMatch(/<label for="username">Username<\/label>/);
    expect(page.body).toMatch(/<input id="username" name="username" type="text"[^>]*autocomplete="username"/);
    expect(page.body).toMatch(/<label for="password">Password<\/label>/);
    expect(page.body).toMatch(
      /<input id="password" name="password" type="password"[^>]*autocomplete="current-password"/,
    );
    expect(page.body).toContain('You are signing in to Team Wiki.');
    expect(page.body).not.toContain('role="alert"');
    // Scripts only from Poort's own static files, never inline.
    expect(page.body).not.toMatch(/<script(?![^>]*\ssrc="\/static\/)/);
  });

  it("fills in the application's login_hint, escaped, and puts the cursor on the password", async () => {
    const browser = new Browser();
    const pending = await startAuthorization(config, {
      redirectUri: REDIRECT,
      params: { login_hint: 'anna"<x>' },
    });
    const page = await browser.navigate(pending.url.href);
    expect(page.body).toMatch(/<input id="username"[^>]*value="anna&quot;&lt;x&gt;"/);
    expect(page.body).toMatch(/<input id="password"[^>]*autofocus>/);
  });

  it('announces an error in role="alert" and ties it to the fields', async () => {
    const browser = new Browser();
    const form = readForm(await signInPage(browser));
    const page = await browser.request(form.action, {
      form: { ...form.fields, username: 'anna', password: 'wrong password' },
    });
    expect(page.status).toBe(401);
    expect(page.body).toMatch(
      /<div id="signin-error" class="alert" role="alert">\s*<p>Incorrect username or password\.<\/p>/,
    );
    expect(page.body).toMatch(/<input id="password"[^>]*aria-invalid="true" aria-describedby="signin-error"/);
    expect(page.body).toMatch(/<title>Error: Sign in/);
  });
});

describe('language', () => {
  it('speaks Dutch to a browser that asks for it', async () => {
    const page = await signInPage(new Browser({ 'accept-language': 'nl-NL,nl;q=0.9,en;q=0.5' }));
    expect(page.body).toContain('<html lang="nl">');
    expect(page.body).toContain('<h1>Inloggen</h1>');
    expect(page.body).toContain('<label for="username">Gebruikersnaam</label>');
    expect(page.body).toContain('U logt in bij Team Wiki.');
  });

  it('takes the first language it has from the browser list, else English', async () => {
    expect(
      (await signInPage(new Browser({ 'accept-language': 'de-DE, fr;q=0.8, nl;q=0.5' }))).body,
    ).toContain('<html lang="nl">');
    expect((await signInPage(new Browser({ 'accept-language': 'de-DE, fr;q=0.8' }))).body).toContain(
      '<html lang="en">',
    );
    expect((await signInPage(new Browser({ 'accept-language': 'nl;q=0, en' }))).body).toContain(
      '<html lang="en">',
    );
  });

  it('switches with ?lang=nl and remembers the choice in a cookie', async () => {
    const browser = new Browser({ 'accept-language': 'en' });
    const first = await signInPage(browser);
    expect(first.body).toMatch(/<a href="\/signin\/[^"?]+\?lang=nl" lang="nl" hreflang="nl">Nederlands<\/a>/);

    const switched = await browser.request(`${interactionUrl(first)}?lang=nl`);
    expect(switched.body).toContain('<html lang="nl">');
    expect(switched.headers.getSetCookie().find((c) => c.startsWith('poort_lang='))).toMatch(
      /^poort_lang=nl; Path=\/; Max-Age=\d+/,
    );

    const later = await browser.request(first.url);
    expect(later.body).toContain('<html lang="nl">');
  });

  it('shows errors in Dutch too', async () => {
    const browser = new Browser({ 'accept-language': 'nl' });
    const form = readForm(await signInPage(browser));
    const failed = await browser.request(form.action, {
      form: { ...form.fields, username: 'anna', password: 'wrong password' },
    });
    expect(failed.body).toMatch(/role="alert"[\s\S]*Gebruikersnaam of wachtwoord is onjuist\./);
    const expired = await browser.request(`${poort.issuer}/signin/unknown`);
    expect(expired.body).toContain('<html lang="nl">');
    expect(expired.body).toContain('Het inloggen duurde te lang.');
  });

  it('ignores a language it does not have', async () => {
    const browser = new Browser({ 'accept-language': 'nl' });
    const page = await signInPage(browser);
    const odd = await browser.request(`${interactionUrl(page)}?lang=xx`);
    expect(odd.status).toBe(200);
    expect(odd.body).toContain('<html lang="nl">');
    expect(odd.headers.getSetCookie().some((c) => c.startsWith('poort_lang='))).toBe(false);
  });
});
