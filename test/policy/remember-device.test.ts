import { generate } from 'otplib';
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { KNOWN_DEVICE_COOKIE } from '../../src/policy/known-device.js';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import { authorizeInBrowser, relyingParty, startAuthorization } from '../helpers/oidc.js';
import type { TestPoort } from '../helpers/poort.js';
import { startPolicyPoort } from './enforcement-setup.js';

const REDIRECT = 'http://127.0.0.1:7913/cb';
const PASSWORD = 'a passphrase nobody guesses';
const SECRET = 'app-secret-0123456789';

/** A second factor at every sign-in, except in a browser the user asked Poort to remember. */
const POLICY = `rules:
  - id: second-factor-unless-remembered
    when: { device: { type: [desktop, mobile, tablet] } }
    unless: { device: { known: true } }
    then: { mfa: { strength: any } }
default: allow
`;

const isCodeForm = (page: Page) => page.status === 200 && /autocomplete="one-time-code"/.test(page.body);
const knownDeviceCookie = (browser: Browser) =>
  [...browser.cookies.values()].some((c) => c.name === KNOWN_DEVICE_COOKIE);

/** "Remember this device" is the user's choice on the second-factor page; only then is the browser known. */
describe('remember this device', () => {
  let poort: TestPoort;
  let app: oidc.Configuration;
  let people = 0;

  beforeAll(async () => {
    poort = await startPolicyPoort(POLICY);
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    app = await relyingParty(poort, 'app', SECRET);
  });
  afterAll(async () => poort?.stop());

  async function person(p = poort) {
    const username = `person${++people}`;
    const id = await p.addUser({ username, password: PASSWORD });
    const secret = newTotpSecret();
    await p.services.factors.add({ userId: id, kind: 'totp', name: 'Phone', secret });
    let step = -1;
    return { username, code: () => generate({ secret, epoch: Math.floor(Date.now() / 1000) + step++ * 30 }) };
  }

  /** A new sign-in (prompt=login: the password again) in `browser`; the page after the password. */
  async function signInAgain(browser: Browser, username: string, rp = app): Promise<Page> {
    const pending = await startAuthorization(rp, { redirectUri: REDIRECT, params: { prompt: 'login' } });
    return authorizeInBrowser(browser, pending, { username, password: PASSWORD });
  }

  async function submitCode(browser: Browser, page: Page, code: string, extra: Record<string, string> = {}) {
    const form = readForm(page);
    return browser.navigate(form.action, { form: { ...form.fields, code, ...extra } }, REDIRECT);
  }

  it('offers an unticked, labelled checkbox on the second-factor page, in English and Dutch', async () => {
    const who = await person();
    const english = await signInAgain(new Browser(), who.username);
    expect(isCodeForm(english)).toBe(true);
    expect(english.body).toMatch(
      /<input id="remember-device" name="remember_device" type="checkbox" value="yes" aria-describedby="remember-device-hint">/,
    );
    expect(english.body).toContain('<label for="remember-device">Remember this device for 30 days</label>');
    expect(english.body).toContain(
      '<p id="remember-device-hint" class="meta">Only on a device that is yours alone.',
    );
    // inside the form that verifies the code, before its button
    const verify = /<form\b[\s\S]*?<\/form>/.exec(english.body)![0];
    expect(verify.indexOf('remember-device')).toBeGreaterThan(verify.indexOf('name="code"'));
    expect(verify.indexOf('remember-device')).toBeLessThan(verify.indexOf('type="submit"'));

    const dutch = await signInAgain(new Browser({ 'accept-language': 'nl' }), who.username);
    expect(dutch.body).toContain('<label for="remember-device">Dit apparaat 30 dagen onthouden</label>');
  });

  it('asks the second factor again next time when the box was left unticked', async () => {
    const who = await person();
    const browser = new Browser();
    const first = await signInAgain(browser, who.username);
    expect((await submitCode(browser, first, await who.code())).status).toBe(0);
    expect(knownDeviceCookie(browser)).toBe(false);
    expect(isCodeForm(await signInAgain(browser, who.username))).toBe(true);
  });

  it('skips the second factor where the policy allows it, once the user ticked the box', async () => {
    const who = await person();
    const browser = new Browser();
    const first = await signInAgain(browser, who.username);
    expect((await submitCode(browser, first, await who.code(), { remember_device: 'yes' })).status).toBe(0);
    expect(knownDeviceCookie(browser)).toBe(true);
    // the next sign-in in this browser: the password only (the policy's `unless: device.known`)
    expect((await signInAgain(browser, who.username)).status).toBe(0);
    // another browser, or another user in this one, is not known
    expect(isCodeForm(await signInAgain(new Browser(), who.username))).toBe(true);
    expect(isCodeForm(await signInAgain(browser, (await person()).username))).toBe(true);
  });

  it('keeps the choice when a wrong code is typed', async () => {
    const who = await person();
    const browser = new Browser();
    const first = await signInAgain(browser, who.username);
    const wrong = await submitCode(browser, first, '000000', { remember_device: 'yes' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatch(/name="remember_device" type="checkbox" value="yes" checked/);
    expect((await submitCode(browser, wrong, await who.code())).status).toBe(0);
    expect(knownDeviceCookie(browser)).toBe(true);
  });

  it('offers no checkbox when known devices are turned off', async () => {
    const off = await startPolicyPoort(POLICY, 'policy_context: { known_device: { enabled: false } }\n');
    try {
      await off.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
      const rp = await relyingParty(off, 'app', SECRET);
      const who = await person(off);
      const browser = new Browser();
      const page = await signInAgain(browser, who.username, rp);
      expect(isCodeForm(page)).toBe(true);
      expect(page.body).not.toContain('remember_device');
      // a hand-made field changes nothing
      const form = readForm(page);
      const done = await browser.navigate(
        form.action,
        { form: { ...form.fields, code: await who.code(), remember_device: 'yes' } },
        REDIRECT,
      );
      expect(done.status).toBe(0);
      expect(knownDeviceCookie(browser)).toBe(false);
    } finally {
      await off.stop();
    }
  });
});
