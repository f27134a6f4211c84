import { generate } from 'otplib';
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnrolmentCodes } from '../../src/mfa/enrolment-codes.js';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { KNOWN_DEVICE_COOKIE } from '../../src/policy/known-device.js';
import { Browser, decodeEntities, readForm, type Page } from '../helpers/browser.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  redeemCode,
  relyingParty,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const REDIRECT = 'http://127.0.0.1:7911/cb';
const PASSWORD = 'a passphrase nobody guesses';
const ACR_MFA = 'urn:poort:acr:mfa';
const ACR_PHR = 'urn:poort:acr:phishing-resistant';
/** The office network of these tests; the test client is the trusted proxy that says where a request comes from. */
const OFFICE = { 'x-forwarded-for': '10.20.30.40' };
const ELSEWHERE = { 'x-forwarded-for': '203.0.113.9' };

const config = (withCode: boolean) =>
  `${FAST_ARGON2}server: { trust_proxy: [127.0.0.1/32] }\n` +
  `mfa: { required: always, enrolment_at_signin: { networks: [10.0.0.0/8], with_enrolment_code: ${withCode} } }\n`;

/** The TOTP key as the enrolment page shows it for typing in by hand. */
function shownKey(page: Page): string {
  const match = /id="totp-key">([^<]+)</.exec(page.body);
  if (!match) throw new Error(`no key on ${page.url} (${page.status}):\n${page.body.slice(0, 800)}`);
  return decodeEntities(match[1]!).replace(/\s+/g, '');
}

function links(page: Page): string[] {
  return [...page.body.matchAll(/href="([^"]+)"/g)].map((m) => decodeEntities(m[1]!));
}

async function setUp(poort: TestPoort) {
  await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
  return relyingParty(poort, 'app', 'app-secret-0123456789');
}

async function auditOf(poort: TestPoort, action: string) {
  const events = await poort.services.audit.query({ limit: 200 });
  return events.map((e) => ('event' in e ? e.event : e)).filter((e) => e.action === action);
}

describe('enrolment during sign-in', () => {
  let poort: TestPoort;
  let strict: TestPoort;
  let rp: oidc.Configuration;
  let strictRp: oidc.Configuration;

  beforeAll(async () => {
    [poort, strict] = await Promise.all([startPoort(config(true)), startPoort(config(false))]);
    [rp, strictRp] = await Promise.all([setUp(poort), setUp(strict)]);
  });
  afterAll(async () => {
    await Promise.all([poort?.stop(), strict?.stop()]);
  });

  /** Signs in with the password from `where`; returns the page Poort stops at and the pending authorization. */
  async function signInFrom(
    target: TestPoort,
    config: oidc.Configuration,
    where: Record<string, string>,
    username: string,
    params: Record<string, string> = {},
  ) {
    const browser = new Browser(where);
    const pending = await startAuthorization(config, { redirectUri: REDIRECT, params });
    const page = await authorizeInBrowser(browser, pending, { username, password: PASSWORD });
    return { browser, pending, page };
  }

  it('walks a user without a factor, on the office network, through setting up TOTP and signs them in', async () => {
    const userId = await poort.addUser({ username: 'anna', password: PASSWORD });
    const { browser, pending, page } = await signInFrom(poort, rp, OFFICE, 'anna');
    expect(page.status).toBe(200);
    expect(page.url).toMatch(/\/signin\/[^/]+\/enrol$/);
    const totpLink = links(page).find((href) => href.endsWith('/enrol/totp'))!;
    expect(totpLink).toBeDefined();

    const setup = await browser.navigate(new URL(totpLink, page.url).href);
    expect(setup.status).toBe(200);
    expect(setup.body).toMatch(/<img src="data:image\/svg\+xml;base64,[^"]+"[^>]* alt="[^"]+"/);
    const key = shownKey(setup);
    expect(key).toMatch(/^[A-Z2-7]{32}$/);
    expect(setup.body).toMatch(/id="totp-key">([A-Z2-7]{4} ){7}[A-Z2-7]{4}</);
    // Reloading shows the same key: the user may have scanned it already.
    expect(shownKey(await browser.request(setup.url))).toBe(key);

    const form = readForm(setup);
    const wrong = await browser.request(form.action, { form: { ...form.fields, code: '000000' } });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toContain('role="alert"');
    expect(shownKey(wrong)).toBe(key);

    // "Remember this device" is offered here too, unticked, and keeps its state after a wrong code
    expect(setup.body).toMatch(
      /<input id="remember-device" name="remember_device" type="checkbox" value="yes" aria-describedby/,
    );
    const ticked = await browser.request(form.action, {
      form: { ...form.fields, code: '000000', remember_device: 'yes' },
    });
    expect(ticked.body).toMatch(
      /<input id="remember-device" name="remember_device" type="checkbox" value="yes" checked/,
    );
    expect(shownKey(ticked)).toBe(key);

    const code = await generate({ secret: key });
    const done = await browser.navigate(
      form.action,
      { form: { ...readForm(ticked).fields, name: 'My phone', code } },
      REDIRECT,
    );
    expect(done.status).toBe(0);
    // ticked: the browser is remembered, as after a second-factor page
    expect([...browser.cookies.values()].some((c) => c.name === KNOWN_DEVICE_COOKIE)).toBe(true);
    const claims = (await redeemCode(rp, done, pending)).claims()!;
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe(ACR_MFA);

    const factors = await poort.services.factors.list(userId);
    expect(factors).toMatchObject([{ kind: 'totp', name: 'My phone' }]);
    const [enrolled] = await auditOf(poort, 'mfa.enrolled');
    expect(enrolled).toMatchObject({
      outcome: 'success',
      actor: { type: 'user', id: userId },
      details: { factor: 'totp', factor_id: factors[0]!.id, via: 'signin', reason: 'network' },
    });
    expect(JSON.stringify(await poort.services.audit.query({ limit: 50 }))).not.toContain(key);

    // The code that proved the enrolment cannot be used again to sign in.
    const again = await signInFrom(poort, rp, OFFICE, 'anna');
    expect(again.page.url).toMatch(/\/mfa$/);
    const replay = await again.browser.request(readForm(again.page).action, {
      form: { ...readForm(again.page).fields, code },
    });
    expect(replay.status).toBe(401);
    expect(replay.body).toContain('was used already');
  });

  it('offers only a phishing-resistant kind when the application asks for one', async () => {
    await poort.addUser({ username: 'bram', password: PASSWORD });
    const { page, browser } = await signInFrom(poort, rp, OFFICE, 'bram', { acr_values: ACR_PHR });
    expect(page.url).toMatch(/\/enrol$/);
    expect(links(page).some((href) => href.endsWith('/enrol/webauthn'))).toBe(true);
    expect(links(page).some((href) => href.endsWith('/enrol/totp'))).toBe(false);
    expect((await browser.request(`${page.url}/totp`)).status).toBe(404);
  });

  it('does not let the office network stand in for a factor the user already has', async () => {
    const userId = await poort.addUser({ username: 'cas', password: PASSWORD });
    await poort.services.factors.add({ userId, kind: 'totp', name: 'Phone', secret: newTotpSecret() });
    const { page, browser } = await signInFrom(poort, rp, OFFICE, 'cas', { acr_values: ACR_PHR });
    // TOTP is not enough here, and the network alone may not add a passkey to an account that has a factor.
    expect(page.status).toBe(200);
    expect(page.url).toMatch(/\/enrol$/);
    expect(page.body).toContain('name="code"');
    expect(page.body).not.toContain('/enrol/webauthn');
    const direct = await browser.request(`${page.url}/webauthn`);
    expect(direct.status).toBe(303);
    expect(direct.headers.get('location')).toMatch(/\/enrol$/);
  });

  it('refuses a user without a factor outside the network when enrolment codes are off, and keeps the pages closed', async () => {
    const userId = await strict.addUser({ username: 'dirk', password: PASSWORD });
    const { page, browser } = await signInFrom(strict, strictRp, ELSEWHERE, 'dirk');
    expect(page.status).toBe(403);
    expect(page.body).toContain('second factor');
    const uid = /\/signin\/([^/]+)\/mfa$/.exec(page.url)![1]!;
    const base = `${strict.issuer}/signin/${uid}/enrol`;
    for (const url of [base, `${base}/totp`]) {
      const direct = await browser.request(url);
      expect(direct.status).toBe(403);
      expect(direct.body).not.toContain('totp-key');
    }
    const posted = await browser.request(`${base}/totp`, { form: { csrf: 'x', code: '123456' } });
    expect(posted.status).toBe(403);
    expect(await strict.services.factors.list(userId)).toEqual([]);
    const denied = await auditOf(strict, 'signin.denied');
    expect(denied[0]).toMatchObject({ reason: 'mfa_not_enrolled', subject: { id: userId } });
  });

  it('asks outside the network for an enrolment code, accepts a valid one once, and then enrols', async () => {
    const userId = await poort.addUser({ username: 'eva', password: PASSWORD });
    const codes = new EnrolmentCodes(poort.services.db, poort.services.hasher);
    const { code } = await codes.issue(userId, 3600);

    const first = await signInFrom(poort, rp, ELSEWHERE, 'eva');
    expect(first.page.status).toBe(200);
    expect(first.page.url).toMatch(/\/enrol$/);
    expect(first.page.body).toContain('id="enrolment-code"');
    // The setup pages stay closed until a code is accepted.
    const early = await first.browser.request(`${first.page.url}/totp`);
    expect(early.status).toBe(303);
    expect(early.headers.get('location')).toMatch(/\/enrol$/);

    const form = readForm(first.page);
    const wrong = await first.browser.request(form.action, {
      form: { ...form.fields, code: '0000-0000-0000-0000-0000' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('role="alert"');
    const badCsrf = await first.browser.request(form.action, { form: { csrf: 'forged', code } });
    expect(badCsrf.status).toBe(403);

    const accepted = await first.browser.navigate(form.action, { form: { ...form.fields, code } });
    expect(accepted.status).toBe(200);
    expect(links(accepted).some((href) => href.endsWith('/enrol/totp'))).toBe(true);

    // The same code does not open a second sign-in.
    const second = await signInFrom(poort, rp, ELSEWHERE, 'eva');
    const reuse = await second.browser.request(readForm(second.page).action, {
      form: { ...readForm(second.page).fields, code },
    });
    expect(reuse.status).toBe(401);

    const setup = await first.browser.navigate(`${first.page.url}/totp`);
    const key = shownKey(setup);
    const done = await first.browser.navigate(
      readForm(setup).action,
      { form: { ...readForm(setup).fields, code: await generate({ secret: key }) } },
      REDIRECT,
    );
    expect(done.status).toBe(0);
    // the box left unticked: the browser is not remembered
    expect([...first.browser.cookies.values()].some((c) => c.name === KNOWN_DEVICE_COOKIE)).toBe(false);
    expect((await redeemCode(rp, done, first.pending)).claims()!.amr).toEqual(['pwd', 'otp', 'mfa']);
    const enrolled = await auditOf(poort, 'mfa.enrolled');
    expect(enrolled.find((e) => e.subject?.id === userId)).toMatchObject({
      details: { factor: 'totp', via: 'signin', reason: 'enrolment_code' },
    });
    const events = JSON.stringify(await poort.services.audit.query({ limit: 100 }));
    expect(events).not.toContain(code);
    expect(events).not.toContain(code.replace(/-/g, ''));
  });

  it('checks the CSRF token of the setup form', async () => {
    await poort.addUser({ username: 'finn', password: PASSWORD });
    const { page, browser } = await signInFrom(poort, rp, OFFICE, 'finn');
    const setup = await browser.navigate(`${page.url}/totp`);
    const form = readForm(setup);
    const code = await generate({ secret: shownKey(setup) });
    const forged = await browser.request(form.action, { form: { ...form.fields, csrf: 'forged', code } });
    expect(forged.status).toBe(403);
  });
});
