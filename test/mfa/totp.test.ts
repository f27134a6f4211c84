import { generate } from 'otplib';
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  redeemCode,
  relyingParty,
  signIn,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const REDIRECT = 'http://127.0.0.1:7901/cb';
const PASSWORD = 'a passphrase nobody guesses';
const ACR = {
  password: 'urn:poort:acr:password',
  mfa: 'urn:poort:acr:mfa',
  phr: 'urn:poort:acr:phishing-resistant',
};

/** The code an authenticator app shows for a time step: now, or `steps` periods away. */
const codeAt = (secret: string, steps = 0) =>
  generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

function isCodeForm(page: Page): boolean {
  return page.status === 200 && /autocomplete="one-time-code"/.test(page.body);
}

async function submitCode(browser: Browser, page: Page, code: string): Promise<Page> {
  const form = readForm(page);
  return browser.navigate(form.action, { form: { ...form.fields, code } }, REDIRECT);
}

describe('TOTP as a second factor', () => {
  let poort: TestPoort;
  let config: oidc.Configuration;
  let secret: string;

  beforeAll(async () => {
    poort = await startPoort(
      `${FAST_ARGON2}throttle: { account: { free_attempts: 5, base_delay: 1s, max_delay: 2s, window: 1m } }\n` +
        'mfa: { enrolment_at_signin: { with_enrolment_code: false } }\n',
    );
    const userId = await poort.addUser({ username: 'eva', password: PASSWORD });
    await poort.addUser({ username: 'finn', password: PASSWORD });
    secret = newTotpSecret();
    await poort.services.factors.add({ userId, kind: 'totp', name: 'Phone', secret });
    await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
    config = await relyingParty(poort, 'app', 'app-secret-0123456789');
  });
  afterAll(async () => poort?.stop());

  it('asks a user with a factor for a code after the password, and records pwd + otp + mfa', async () => {
    const browser = new Browser();
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    const mfaPage = await authorizeInBrowser(browser, pending, { username: 'eva', password: PASSWORD });
    expect(isCodeForm(mfaPage)).toBe(true);
    expect(mfaPage.url).toMatch(/\/signin\/[^/]+\/mfa$/);
    const done = await submitCode(browser, mfaPage, await codeAt(secret));
    expect(done.status).toBe(0);
    const claims = (await redeemCode(config, done, pending)).claims()!;
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe(ACR.mfa);
  });

  it('accepts a code one step early or late (clock drift), never the same step twice, never older codes', async () => {
    const gusSecret = newTotpSecret();
    const gus = await poort.addUser({ username: 'gus', password: PASSWORD });
    await poort.services.factors.add({ userId: gus, kind: 'totp', name: 'Token', secret: gusSecret });
    const attempt = async (code: string) => {
      const browser = new Browser();
      const pending = await startAuthorization(config, { redirectUri: REDIRECT });
      const mfaPage = await authorizeInBrowser(browser, pending, { username: 'gus', password: PASSWORD });
      return submitCode(browser, mfaPage, code);
    };
    expect((await attempt(await codeAt(gusSecret, -1))).status).toBe(0);
    expect((await attempt(await codeAt(gusSecret, +1))).status).toBe(0);
    const replay = await attempt(await codeAt(gusSecret, 0));
    expect(replay.status).toBe(401);
    expect(replay.body).toContain('was used already');
    const old = await attempt(await codeAt(gusSecret, -3));
    expect(old.status).toBe(401);
    expect(old.body).toContain('is not right');
  });

  it('refuses a wrong code, records it, and counts it toward the account throttle', async () => {
    const browser = new Browser();
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    const mfaPage = await authorizeInBrowser(browser, pending, { username: 'eva', password: PASSWORD });
    const [last] = await poort.services.audit.query({ limit: 1 });
    const statuses: number[] = [];
    const form = readForm(mfaPage);
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        browser.request(form.action, { form: { ...form.fields, code: '000000' } }),
      ),
    );
    for (const r of results) statuses.push(r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(3);
    const events = await poort.services.audit.readAfter(last!.seq, 100);
    const failures = events.filter((e) => e.event.action === 'signin.mfa' && e.event.outcome === 'failure');
    expect(failures.length).toBe(statuses.filter((s) => s === 401).length);
    expect(failures[0]!.event).toMatchObject({
      reason: 'invalid_code',
      details: { factor: 'totp' },
      subject: { username: 'eva' },
    });
    expect(JSON.stringify(events)).not.toContain('000000');
    await new Promise((resolve) => setTimeout(resolve, 2100));
  });

  it('lets a user without a factor sign in with the password alone (mfa.required: enrolled)', async () => {
    const { tokens } = await signIn(
      config,
      new Browser(),
      { username: 'finn', password: PASSWORD },
      { redirectUri: REDIRECT },
    );
    expect(tokens.claims()!.amr).toEqual(['pwd']);
  });

  it('steps up an existing password-only session when an application asks for multi-factor (acr_values)', async () => {
    const browser = new Browser();
    // First a password-only sign-in: eva's factor is set aside for it by asking for nothing, as finn would.
    const { tokens } = await signIn(
      config,
      browser,
      { username: 'finn', password: PASSWORD },
      { redirectUri: REDIRECT },
    );
    expect(tokens.claims()!.acr).toBe(ACR.password);
    const pending = await startAuthorization(config, {
      redirectUri: REDIRECT,
      params: { acr_values: ACR.mfa },
    });
    const page = await browser.navigate(pending.url.href, {}, REDIRECT);
    // finn has no factor and may not enrol here: refused with a clear page, not passed silently.
    expect(page.status).toBe(403);
    expect(page.body).toContain('second factor');
  });

  it('steps up with the second factor only, keeping the single sign-on session', async () => {
    // Where no rule asks for a second factor, eva signs in with her password alone; then an application asks more.
    const lenient = await startPoort(`${FAST_ARGON2}mfa: { required: never }\n`);
    try {
      const userId = await lenient.addUser({ username: 'eva', password: PASSWORD });
      const evaSecret = newTotpSecret();
      await lenient.services.factors.add({ userId, kind: 'totp', name: 'Phone', secret: evaSecret });
      await lenient.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
      const rp = await relyingParty(lenient, 'app', 'app-secret-0123456789');
      const browser = new Browser();
      const { tokens } = await signIn(
        rp,
        browser,
        { username: 'eva', password: PASSWORD },
        { redirectUri: REDIRECT },
      );
      expect(tokens.claims()!.amr).toEqual(['pwd']);
      const authTime = tokens.claims()!.auth_time!;

      const pending = await startAuthorization(rp, {
        redirectUri: REDIRECT,
        params: { acr_values: ACR.mfa },
      });
      const page = await browser.navigate(pending.url.href, {}, REDIRECT);
      expect(isCodeForm(page)).toBe(true); // no password asked again
      const done = await submitCode(browser, page, await codeAt(evaSecret));
      expect(done.status).toBe(0);
      const claims = (await redeemCode(rp, done, pending)).claims()!;
      expect(claims.acr).toBe(ACR.mfa);
      expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
      expect(claims.auth_time).toBeGreaterThanOrEqual(authTime);

      // The stepped-up session now satisfies multi-factor requests without asking again.
      const again = await startAuthorization(rp, { redirectUri: REDIRECT, params: { acr_values: ACR.mfa } });
      expect((await browser.navigate(again.url.href, {}, REDIRECT)).status).toBe(0);
    } finally {
      await lenient.stop();
    }
  });
});
