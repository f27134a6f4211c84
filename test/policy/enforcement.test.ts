import { generate } from 'otplib';
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { DeviceRegistry } from '../../src/policy/devices.js';
import { KNOWN_DEVICE_COOKIE } from '../../src/policy/known-device.js';
import { countryOf } from '../../src/policy/source.js';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import {
  authorizeInBrowser,
  isPasswordForm,
  redeemCode,
  relyingParty,
  startAuthorization,
  type PendingAuthorization,
} from '../helpers/oidc.js';
import type { TestPoort } from '../helpers/poort.js';
import { ISSUE_POLICY, startPolicyPoort } from './enforcement-setup.js';

const REDIRECT = 'http://127.0.0.1:7911/cb';
const PASSWORD = 'a passphrase nobody guesses';
const SECRET = 'app-secret-0123456789';
const ACR = { password: 'urn:poort:acr:password', mfa: 'urn:poort:acr:mfa' };

const OFFICE = '192.0.2.10';
const OFFICE_V6 = '2001:db8:1::25';
const DUTCH = '145.97.39.155';
const AMERICAN = '8.8.8.8';
/** An address the shipped GeoLite2 data places in North Korea. */
const EMBARGOED = '175.45.176.1';

const DESKTOP =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';
const CERT_SHA256 =
  'C3:AB:8F:F1:37:20:E8:AD:90:47:DD:39:46:6B:3C:89:74:E5:92:C2:FA:38:3D:4A:39:60:71:4C:AE:F0:C4:F2';

/** A person's browser: where it connects from (as the proxy reports it) and what it says it is. */
function browserAt(ip: string, userAgent = DESKTOP, headers: Record<string, string> = {}): Browser {
  return new Browser({ 'x-forwarded-for': ip, 'user-agent': userAgent, ...headers });
}

function isCodeForm(page: Page): boolean {
  return page.status === 200 && /autocomplete="one-time-code"/.test(page.body);
}

/** A user with an authenticator app; each sign-in takes the next time step, so no code is ever a replay. */
interface Person {
  id: string;
  username: string;
  code(): Promise<string>;
}

describe('contextual policies in the sign-in (the policy of issue 5)', () => {
  let poort: TestPoort;
  let app: oidc.Configuration;
  let payroll: oidc.Configuration;
  let people = 0;

  beforeAll(async () => {
    poort = await startPolicyPoort(ISSUE_POLICY);
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    await poort.addClient({ clientId: 'payroll', secret: SECRET, redirectUris: [REDIRECT] });
    [app, payroll] = await Promise.all([
      relyingParty(poort, 'app', SECRET),
      relyingParty(poort, 'payroll', SECRET),
    ]);
  });
  afterAll(async () => poort?.stop());

  async function person(): Promise<Person> {
    const username = `user${++people}`;
    const id = await poort.addUser({ username, password: PASSWORD });
    const secret = newTotpSecret();
    await poort.services.factors.add({ userId: id, kind: 'totp', name: 'Phone', secret });
    let step = -1;
    return {
      id,
      username,
      code: () => generate({ secret, epoch: Math.floor(Date.now() / 1000) + step++ * 30 }),
    };
  }

  async function lastSeq(): Promise<number> {
    return (await poort.services.audit.query({ limit: 1 }))[0]?.seq ?? 0;
  }

  async function eventsSince(seq: number): Promise<AuditEvent[]> {
    return (await poort.services.audit.readAfter(seq, 200)).map((e) => e.event);
  }

  function only(events: AuditEvent[], action: string): AuditEvent {
    const found = events.filter((e) => e.action === action);
    expect(found, action).toHaveLength(1);
    return found[0]!;
  }

  /** Opens an authorization request of `rp` and signs in with the password; the page after the password form. */
  async function passwordStep(
    rp: oidc.Configuration,
    browser: Browser,
    who: Person,
    params: Record<string, string> = {},
  ): Promise<{ pending: PendingAuthorization; page: Page }> {
    const pending = await startAuthorization(rp, { redirectUri: REDIRECT, params });
    const page = await authorizeInBrowser(browser, pending, { username: who.username, password: PASSWORD });
    return { pending, page };
  }

  async function submitCode(browser: Browser, page: Page, code: string): Promise<Page> {
    const form = readForm(page);
    return browser.navigate(form.action, { form: { ...form.fields, code } }, REDIRECT);
  }

  it('asks only for the password from the office network (IPv4 and IPv6), and records the decision', async () => {
    for (const ip of [OFFICE, OFFICE_V6]) {
      const who = await person();
      const since = await lastSeq();
      const { pending, page } = await passwordStep(app, browserAt(ip), who);
      expect(page.status).toBe(0);
      const claims = (await redeemCode(app, page, pending)).claims()!;
      expect(claims.amr).toEqual(['pwd']);
      expect(claims.acr).toBe(ACR.password);
      const events = await eventsSince(since);
      const decision = { decision: 'allow', report_only: [] };
      expect(only(events, 'signin.password')).toMatchObject({
        outcome: 'success',
        source: { ip },
        policy: decision,
      });
      expect(only(events, 'signin.password').policy).not.toHaveProperty('rule');
      expect(only(events, 'signin.completed')).toMatchObject({ policy: decision });
    }
  });

  it('asks a second factor from a Dutch address outside the office, then signs in with it', async () => {
    expect(countryOf(DUTCH)).toBe('NL');
    const who = await person();
    const since = await lastSeq();
    const browser = browserAt(DUTCH);
    const { pending, page } = await passwordStep(app, browser, who);
    expect(isCodeForm(page)).toBe(true);
    const done = await submitCode(browser, page, await who.code());
    expect(done.status).toBe(0);
    const claims = (await redeemCode(app, done, pending)).claims()!;
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe(ACR.mfa);
    const events = await eventsSince(since);
    const decision = { rule: 'outside-trusted-networks', decision: 'mfa', strength: 'any', report_only: [] };
    expect(only(events, 'signin.password')).toMatchObject({
      source: { ip: DUTCH, country: 'NL' },
      policy: decision,
    });
    expect(only(events, 'signin.completed')).toMatchObject({ policy: decision, details: { acr: ACR.mfa } });
  });

  it('refuses a sign-in from an embargoed country with a clear page, and records which rule refused it', async () => {
    expect(countryOf(EMBARGOED)).toBe('KP');
    const who = await person();
    const since = await lastSeq();
    const { page } = await passwordStep(app, browserAt(EMBARGOED), who);
    expect(page.status).toBe(403);
    expect(page.body).toContain('Sign-in not allowed');
    expect(page.body).toContain('does not allow signing in from here');
    expect(page.body).toContain('policy_denied');
    expect(isCodeForm(page)).toBe(false);
    const events = await eventsSince(since);
    const denied = only(events, 'signin.denied');
    expect(denied).toMatchObject({
      outcome: 'denied',
      reason: 'policy_denied',
      subject: { id: who.id, username: who.username },
      source: { ip: EMBARGOED, country: 'KP' },
      policy: { decision: 'deny', report_only: [] },
    });
    expect(denied.policy!.rule!.split(',')).toContain('block-embargoed');
    expect(only(events, 'signin.password').policy).toMatchObject({ decision: 'deny' });
    expect(events.some((e) => e.action === 'signin.completed')).toBe(false);
  });

  it('shows the denied page in Dutch to a Dutch browser', async () => {
    const who = await person();
    const { page } = await passwordStep(app, browserAt(EMBARGOED, DESKTOP, { 'accept-language': 'nl' }), who);
    expect(page.status).toBe(403);
    expect(page.body).toContain('Inloggen niet toegestaan');
  });

  it('asks a second factor on a personal (BYOD) phone, even in the office', async () => {
    const who = await person();
    const since = await lastSeq();
    const browser = browserAt(OFFICE, IPHONE);
    const { pending, page } = await passwordStep(app, browser, who);
    expect(isCodeForm(page)).toBe(true);
    const done = await submitCode(browser, page, await who.code());
    expect((await redeemCode(app, done, pending)).claims()!.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(only(await eventsSince(since), 'signin.password')).toMatchObject({
      source: { device: { type: 'mobile', os: 'iOS' } },
      policy: { rule: 'byod-mobile', decision: 'mfa', strength: 'any' },
    });
  });

  it('does not ask a second factor for the device on a managed phone (client certificate via the proxy)', async () => {
    const who = await person();
    const other = await person();
    const devices = new DeviceRegistry(poort.services.db);
    await devices.add({ name: `phone of ${who.username}`, certFingerprint: CERT_SHA256, ownerId: who.id });
    const header = { 'x-client-cert-sha256': CERT_SHA256.replace(/:/g, '').toLowerCase() };

    const since = await lastSeq();
    const { page } = await passwordStep(app, browserAt(OFFICE, IPHONE, header), who);
    expect(page.status).toBe(0);
    expect(only(await eventsSince(since), 'signin.password').policy).toMatchObject({ decision: 'allow' });

    // The same certificate does not make the phone managed for someone else: it is not theirs.
    const theirs = await passwordStep(app, browserAt(OFFICE, IPHONE, header), other);
    expect(isCodeForm(theirs.page)).toBe(true);
    // Nor does a certificate nobody registered.
    const unknown = await passwordStep(
      app,
      browserAt(OFFICE, IPHONE, { 'x-client-cert-sha256': 'ab'.repeat(32) }),
      who,
    );
    expect(isCodeForm(unknown.page)).toBe(true);
  });

  it('steps up a password-only session for a high-classified application instead of passing it silently', async () => {
    const who = await person();
    const browser = browserAt(OFFICE);
    const first = await passwordStep(app, browser, who);
    expect(first.page.status).toBe(0);
    expect((await redeemCode(app, first.page, first.pending)).claims()!.acr).toBe(ACR.password);

    // The same session at an ordinary application: single sign-on, nothing asked.
    const again = await startAuthorization(app, { redirectUri: REDIRECT });
    expect((await browser.navigate(again.url.href, {}, REDIRECT)).status).toBe(0);

    // At payroll the policy wants a phishing-resistant factor: the session is not enough. No password is asked
    // again; this user has no such factor (and may not set one up here), so the page says so.
    const since = await lastSeq();
    const pending = await startAuthorization(payroll, { redirectUri: REDIRECT });
    const page = await browser.navigate(pending.url.href, {}, REDIRECT);
    expect(isPasswordForm(page)).toBe(false);
    expect(page.status).toBe(403);
    expect(page.body).toContain('A second factor is needed');
    const events = await eventsSince(since);
    expect(events.some((e) => e.action === 'signin.password')).toBe(false);
    expect(only(events, 'signin.denied')).toMatchObject({
      reason: 'mfa_not_enrolled',
      application: { id: 'payroll' },
      details: { requirement: 'phishing_resistant' },
    });
  });

  it('steps up a password-only session when an application asks for multi-factor (acr_values)', async () => {
    const who = await person();
    const browser = browserAt(OFFICE);
    const first = await passwordStep(app, browser, who);
    expect(first.page.status).toBe(0);
    const pending = await startAuthorization(app, { redirectUri: REDIRECT, params: { acr_values: ACR.mfa } });
    const page = await browser.navigate(pending.url.href, {}, REDIRECT);
    expect(isCodeForm(page)).toBe(true);
    const done = await submitCode(browser, page, await who.code());
    const claims = (await redeemCode(app, done, pending)).claims()!;
    expect(claims.acr).toBe(ACR.mfa);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
  });

  it('records a report-only rule (impossible travel: NL, then the US minutes later) without enforcing it', async () => {
    const who = await person();
    const dutch = browserAt(DUTCH);
    const first = await passwordStep(app, dutch, who);
    expect((await submitCode(dutch, first.page, await who.code())).status).toBe(0);

    const since = await lastSeq();
    const american = browserAt(AMERICAN);
    const second = await passwordStep(app, american, who);
    expect(isCodeForm(second.page)).toBe(true);
    expect((await submitCode(american, second.page, await who.code())).status).toBe(0);
    const events = await eventsSince(since);
    const decision = {
      // what is enforced: a second factor of any kind, for being outside the office ...
      rule: 'outside-trusted-networks',
      decision: 'mfa',
      strength: 'any',
      // ... and what the report-only rule would have required
      report_only: ['impossible-travel'],
      would: { 'impossible-travel': 'mfa totp' },
    };
    expect(only(events, 'signin.password')).toMatchObject({ source: { country: 'US' }, policy: decision });
    expect(only(events, 'signin.completed')).toMatchObject({ policy: decision });
  });

  it('remembers the browser after a multi-factor sign-in where the user asked: a signed, HttpOnly, SameSite=Lax cookie', async () => {
    const who = await person();
    const browser = browserAt(DUTCH);
    const { page } = await passwordStep(app, browser, who);
    const form = readForm(page);
    const answer = await browser.request(form.action, {
      form: { ...form.fields, code: await who.code(), remember_device: 'yes' },
    });
    expect(answer.status).toBe(303);
    const cookie = answer.headers.getSetCookie().find((c) => c.startsWith(`${KNOWN_DEVICE_COOKIE}=`));
    expect(cookie).toMatch(/; Path=\/; Max-Age=2592000; HttpOnly; SameSite=Lax$/);
    expect(cookie).not.toContain(who.id);

    // A password-only sign-in sets none.
    const office = browserAt(OFFICE);
    const plain = await passwordStep(app, office, await person());
    expect(plain.page.status).toBe(0);
    expect([...office.cookies.values()].some((c) => c.name === KNOWN_DEVICE_COOKIE)).toBe(false);
  });
});

/** The issue's policy with what it only reports enforced, and payroll needing a fresh (5 s) factor of any kind. */
const STRICTER_POLICY = ISSUE_POLICY.replace(
  'then: { mfa: { strength: phishing_resistant, max_age: 8h } }',
  'then: { mfa: { strength: any, max_age: 5s } }',
)
  .replace('    mode: report_only\n', '')
  .replace(
    'default: allow',
    `  - id: watch-rita
    when: { users: [rita] }
    then: { deny: { message: policy.denied.device } }
    mode: report_only
  - id: hide-from-sam
    when: { users: [sam] }
    then: { deny: { message: policy.denied.country } }
  - id: totp-for-tara
    when: { users: [tara] }
    then: { mfa: { strength: totp } }
default: allow`,
  );

describe('contextual policies in the sign-in (enforced variants)', () => {
  let poort: TestPoort;
  let app: oidc.Configuration;
  let payroll: oidc.Configuration;
  let wiki: oidc.Configuration;

  beforeAll(async () => {
    poort = await startPolicyPoort(STRICTER_POLICY);
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    await poort.addClient({ clientId: 'payroll', secret: SECRET, redirectUris: [REDIRECT] });
    await poort.addClient({ clientId: 'wiki', secret: SECRET, redirectUris: [REDIRECT] });
    [app, payroll, wiki] = await Promise.all([
      relyingParty(poort, 'app', SECRET),
      relyingParty(poort, 'payroll', SECRET),
      relyingParty(poort, 'wiki', SECRET),
    ]);
  });
  afterAll(async () => poort?.stop());

  async function person(username: string): Promise<Person> {
    const id = await poort.addUser({ username, password: PASSWORD });
    const secret = newTotpSecret();
    await poort.services.factors.add({ userId: id, kind: 'totp', name: 'Phone', secret });
    let step = -1;
    return {
      id,
      username,
      code: () => generate({ secret, epoch: Math.floor(Date.now() / 1000) + step++ * 30 }),
    };
  }

  async function lastSeq(): Promise<number> {
    return (await poort.services.audit.query({ limit: 1 }))[0]?.seq ?? 0;
  }

  async function eventsSince(seq: number): Promise<AuditEvent[]> {
    return (await poort.services.audit.readAfter(seq, 200)).map((e) => e.event);
  }

  async function submitCode(browser: Browser, page: Page, code: string): Promise<Page> {
    const form = readForm(page);
    return browser.navigate(form.action, { form: { ...form.fields, code } }, REDIRECT);
  }

  it('detects impossible travel (NL, then the US minutes later) and, enforced, asks for TOTP', async () => {
    const who = await person('ivo');
    const dutch = browserAt(DUTCH);
    const first = await startAuthorization(app, { redirectUri: REDIRECT });
    const firstPage = await authorizeInBrowser(dutch, first, { username: 'ivo', password: PASSWORD });
    expect((await submitCode(dutch, firstPage, await who.code())).status).toBe(0);

    const since = await lastSeq();
    const american = browserAt(AMERICAN);
    const pending = await startAuthorization(app, { redirectUri: REDIRECT });
    const page = await authorizeInBrowser(american, pending, { username: 'ivo', password: PASSWORD });
    expect(isCodeForm(page)).toBe(true);
    const done = await submitCode(american, page, await who.code());
    expect((await redeemCode(app, done, pending)).claims()!.amr).toEqual(['pwd', 'otp', 'mfa']);
    const password = (await eventsSince(since)).find((e) => e.action === 'signin.password')!;
    expect(password.policy).toMatchObject({ decision: 'mfa', strength: 'totp', report_only: [] });
    expect(password.policy!.rule!.split(',')).toEqual(['outside-trusted-networks', 'impossible-travel']);
  });

  it('steps up a session for payroll with the second factor only, and again once it is older than max_age', async () => {
    const who = await person('pia');
    const browser = browserAt(OFFICE);
    const first = await startAuthorization(app, { redirectUri: REDIRECT });
    expect((await authorizeInBrowser(browser, first, { username: 'pia', password: PASSWORD })).status).toBe(
      0,
    );

    const since = await lastSeq();
    const pending = await startAuthorization(payroll, { redirectUri: REDIRECT });
    const page = await browser.navigate(pending.url.href, {}, REDIRECT);
    expect(isCodeForm(page)).toBe(true); // no password asked again
    const done = await submitCode(browser, page, await who.code());
    const claims = (await redeemCode(payroll, done, pending)).claims()!;
    expect(claims.acr).toBe(ACR.mfa);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    const events = await eventsSince(since);
    expect(events.some((e) => e.action === 'signin.password')).toBe(false);
    expect(events.find((e) => e.action === 'signin.completed')).toMatchObject({
      application: { id: 'payroll' },
      policy: { rule: 'sensitive-apps', decision: 'mfa', strength: 'any', max_age: 5 },
    });

    // Within max_age the stepped-up session is enough for payroll ...
    const soon = await startAuthorization(payroll, { redirectUri: REDIRECT });
    expect((await browser.navigate(soon.url.href, {}, REDIRECT)).status).toBe(0);
    // ... after it, the factor must be shown again (still without the password).
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const later = await startAuthorization(payroll, { redirectUri: REDIRECT });
    const laterPage = await browser.navigate(later.url.href, {}, REDIRECT);
    expect(isCodeForm(laterPage)).toBe(true);
    expect((await submitCode(browser, laterPage, await who.code())).status).toBe(0);
  });

  it('keeps a session signed in with TOTP good for a policy asking TOTP (the multi-factor acr does not say which)', async () => {
    const who = await person('tara');
    const browser = browserAt(OFFICE);
    const first = await startAuthorization(app, { redirectUri: REDIRECT });
    const page = await authorizeInBrowser(browser, first, { username: 'tara', password: PASSWORD });
    expect(isCodeForm(page)).toBe(true);
    const claims = (
      await redeemCode(app, await submitCode(browser, page, await who.code()), first)
    ).claims()!;
    expect(claims.acr).toBe(ACR.mfa);

    // Single sign-on: the next authorizations, for this application and another, need nothing more.
    const since = await lastSeq();
    for (const rp of [app, wiki]) {
      const again = await startAuthorization(rp, { redirectUri: REDIRECT });
      const done = await browser.navigate(again.url.href, {}, REDIRECT);
      expect(done.status).toBe(0);
      expect((await redeemCode(rp, done, again)).claims()!.auth_time).toBe(claims.auth_time);
    }
    expect((await eventsSince(since)).some((e) => e.action.startsWith('signin.'))).toBe(false);
  });

  it('shows the message a denying rule names', async () => {
    await person('sam');
    const browser = browserAt(OFFICE);
    const pending = await startAuthorization(app, { redirectUri: REDIRECT });
    const page = await authorizeInBrowser(browser, pending, { username: 'sam', password: PASSWORD });
    expect(page.status).toBe(403);
    expect(page.body).toContain('does not allow signing in from the country you are in now');
  });

  it('records a report-only denial without refusing anyone', async () => {
    const who = await person('rita');
    const since = await lastSeq();
    const pending = await startAuthorization(app, { redirectUri: REDIRECT });
    const page = await authorizeInBrowser(browserAt(OFFICE), pending, {
      username: who.username,
      password: PASSWORD,
    });
    expect(page.status).toBe(0);
    const events = await eventsSince(since);
    expect(events.find((e) => e.action === 'signin.completed')!.policy).toEqual({
      decision: 'allow',
      report_only: ['watch-rita'],
      would: { 'watch-rita': 'deny' },
    });
    expect(events.some((e) => e.action === 'signin.denied')).toBe(false);
  });

  it('refuses an attempt that arrives with a session from where the policy denies (step-up to a denial)', async () => {
    const who = await person('tom');
    const office = browserAt(OFFICE);
    const first = await startAuthorization(app, { redirectUri: REDIRECT });
    expect(
      (await authorizeInBrowser(office, first, { username: who.username, password: PASSWORD })).status,
    ).toBe(0);
    // The same browser (its session cookie), now coming from an embargoed country.
    const abroad = new Browser({ 'x-forwarded-for': EMBARGOED, 'user-agent': DESKTOP });
    for (const [key, cookie] of office.cookies) abroad.cookies.set(key, cookie);
    const since = await lastSeq();
    const pending = await startAuthorization(app, { redirectUri: REDIRECT });
    const page = await abroad.navigate(pending.url.href, {}, REDIRECT);
    expect(page.status).toBe(403);
    expect(page.body).toContain('Sign-in not allowed');
    expect((await eventsSince(since)).find((e) => e.action === 'signin.denied')).toMatchObject({
      reason: 'policy_denied',
      subject: { id: who.id },
      policy: { decision: 'deny' },
    });
    expect(isPasswordForm(page)).toBe(false);
  });
});
