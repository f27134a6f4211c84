import { generate } from 'otplib';
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csrfToken } from '../../src/http/csrf.js';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { RecoveryCodes } from '../../src/mfa/recovery.js';
import { KNOWN_DEVICE_COOKIE } from '../../src/policy/known-device.js';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  redeemCode,
  relyingParty,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const REDIRECT = 'http://127.0.0.1:7902/cb';
const PASSWORD = 'a passphrase nobody guesses';
const ACR = { mfa: 'urn:poort:acr:mfa', phr: 'urn:poort:acr:phishing-resistant' };

const isRecoveryForm = (page: Page) =>
  /name="factor" value="recovery"/.test(page.body) && /name="code"/.test(page.body);

describe('recovery codes as a way past the second factor', () => {
  let poort: TestPoort;
  let config: oidc.Configuration;
  let recovery: RecoveryCodes;
  let evaId: string;
  let codes: string[];
  let firstSeq: number;

  beforeAll(async () => {
    poort = await startPoort(
      `${FAST_ARGON2}throttle: { account: { free_attempts: 5, base_delay: 4s, max_delay: 4s, window: 1m } }\n`,
    );
    evaId = await poort.addUser({ username: 'eva', password: PASSWORD });
    await poort.services.factors.add({ userId: evaId, kind: 'totp', name: 'Phone', secret: newTotpSecret() });
    recovery = new RecoveryCodes(poort.services.db, poort.services.hasher);
    codes = await recovery.generate(evaId);
    await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
    config = await relyingParty(poort, 'app', 'app-secret-0123456789');
    firstSeq = (await poort.services.audit.query({ limit: 1 }))[0]?.seq ?? 0;
  });
  afterAll(async () => poort?.stop());

  /** Password, then "use a recovery code" from the code page: returns the recovery form. */
  async function toRecoveryForm(browser: Browser, params: Record<string, string> = {}) {
    const pending = await startAuthorization(config, { redirectUri: REDIRECT, params });
    const mfaPage = await authorizeInBrowser(browser, pending, { username: 'eva', password: PASSWORD });
    return { pending, mfaPage };
  }

  async function openRecovery(browser: Browser, mfaPage: Page): Promise<Page> {
    const link = /href="([^"]*\?factor=recovery)"/.exec(mfaPage.body)?.[1];
    expect(link, 'a link to use a recovery code').toBeDefined();
    return browser.navigate(new URL(link!.replace(/&amp;/g, '&'), mfaPage.url).href);
  }

  async function submit(browser: Browser, page: Page, code: string): Promise<Page> {
    const form = readForm(page);
    return browser.navigate(form.action, { form: { ...form.fields, code } }, REDIRECT);
  }

  it('generates ten distinct codes, easy to type, stored only as argon2id hashes', async () => {
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes)
      expect(code).toMatch(/^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
    const rows = await poort.services.db
      .selectFrom('recovery_codes')
      .selectAll()
      .where('user_id', '=', evaId)
      .execute();
    expect(rows).toHaveLength(10);
    for (const row of rows) {
      expect(row.hash).toMatch(/^\$argon2id\$/);
      expect(row.used_at).toBeNull();
    }
    expect(JSON.stringify(rows)).not.toContain(codes[0]!.slice(6));
  });

  it('signs in with password + a recovery code, says how many are left, and records mfa in the id_token', async () => {
    const browser = new Browser();
    const { pending, mfaPage } = await toRecoveryForm(browser);
    expect(mfaPage.body).toContain('Recovery code');
    const form = await openRecovery(browser, mfaPage);
    expect(form.status).toBe(200);
    expect(isRecoveryForm(form)).toBe(true);
    // Typed as people do: upper case, spaces instead of dashes.
    const used = await submit(browser, form, codes[0]!.toUpperCase().replace(/-/g, ' '));
    expect(used.status).toBe(200);
    expect(used.body).toContain('You used a recovery code');
    expect(used.body).toContain('You have 9 recovery codes left.');
    const done = await submit(browser, used, '');
    expect(done.status).toBe(0);
    const claims = (await redeemCode(config, done, pending)).claims()!;
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe(ACR.mfa);
    expect(await recovery.remaining(evaId)).toBe(9);
  });

  it('refuses a code used before, and accepts another one', async () => {
    const browser = new Browser();
    const { pending, mfaPage } = await toRecoveryForm(browser);
    const form = await openRecovery(browser, mfaPage);
    const again = await submit(browser, form, codes[0]!);
    expect(again.status).toBe(401);
    expect(again.body).toContain('was used already');
    expect(isRecoveryForm(again)).toBe(true);
    const used = await submit(browser, again, codes[1]!);
    expect(used.body).toContain('You have 8 recovery codes left.');
    const done = await submit(browser, used, '');
    expect(done.status).toBe(0);
    expect((await redeemCode(config, done, pending)).claims()!.amr).toContain('mfa');
  });

  it('finishes a sign-in only through its own Continue, once, with a valid form token', async () => {
    const browser = new Browser();
    const { mfaPage } = await toRecoveryForm(browser);
    const used = await submit(browser, await openRecovery(browser, mfaPage), codes[2]!);
    const form = readForm(used);
    const forged = await browser.request(form.action, { form: { csrf: 'forged' } });
    expect(forged.status).toBe(403);
    expect((await browser.navigate(form.action, { form: form.fields }, REDIRECT)).status).toBe(0);
    expect((await browser.request(form.action, { form: form.fields })).status).toBe(400);
  });

  it('neither offers nor accepts recovery codes when the application asks for phishing-resistant', async () => {
    const browser = new Browser();
    const before = await recovery.remaining(evaId);
    const { pending, mfaPage } = await toRecoveryForm(browser, { acr_values: ACR.phr });
    expect(mfaPage.body).not.toContain('?factor=recovery');
    expect(isRecoveryForm(mfaPage)).toBe(false);
    const uid = /\/signin\/([^/?]+)\//.exec(mfaPage.url)![1]!;
    const asked = await browser.request(`${poort.issuer}/signin/${uid}/mfa?factor=recovery`);
    expect(isRecoveryForm(asked)).toBe(false);
    const posted = await browser.navigate(
      `${poort.issuer}/signin/${uid}/mfa`,
      {
        form: {
          csrf: csrfToken(poort.services.secrets.csrfKey, uid),
          factor: 'recovery',
          code: codes[3]!,
        },
      },
      pending.redirectUri,
    );
    // Refused: the user is not signed in, and is shown the way to a stronger factor (or told there is none).
    expect(posted.status).not.toBe(0);
    expect(isRecoveryForm(posted)).toBe(false);
    expect(await recovery.remaining(evaId)).toBe(before);
  });

  it('counts wrong codes toward the account throttle, and records them without the code', async () => {
    const browser = new Browser();
    const { mfaPage } = await toRecoveryForm(browser);
    const form = readForm(await openRecovery(browser, mfaPage));
    const [last] = await poort.services.audit.query({ limit: 1 });
    const wrong = 'abcde-fghjk-mnpqr';
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        browser.request(form.action, { form: { ...form.fields, code: wrong } }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(3);
    // Even the right code waits its turn while the account is throttled.
    const blocked = await browser.request(form.action, { form: { ...form.fields, code: codes[4]! } });
    expect(blocked.status).toBe(429);
    const events = await poort.services.audit.readAfter(last!.seq, 100);
    const failures = events.filter((e) => e.event.action === 'signin.mfa' && e.event.outcome === 'failure');
    expect(failures.length).toBe(statuses.filter((s) => s === 401).length);
    expect(failures[0]!.event).toMatchObject({
      reason: 'invalid_code',
      details: { factor: 'recovery_code' },
      subject: { username: 'eva' },
    });
    expect(events.some((e) => e.event.action === 'signin.throttled')).toBe(true);
    expect(JSON.stringify(events)).not.toContain(wrong);
    await new Promise((resolve) => setTimeout(resolve, 4100));
  });

  it('never writes a recovery code into the audit trail, and records each use with the count left', async () => {
    const events = await poort.services.audit.readAfter(firstSeq, 1000);
    const successes = events.filter((e) => e.event.action === 'signin.mfa' && e.event.outcome === 'success');
    expect(successes.map((e) => e.event.details)).toEqual([
      { factor: 'recovery_code', remaining: 9 },
      { factor: 'recovery_code', remaining: 8 },
      { factor: 'recovery_code', remaining: 7 },
    ]);
    const text = JSON.stringify(events).toLowerCase();
    for (const code of codes) {
      expect(text).not.toContain(code);
      expect(text).not.toContain(code.replace(/-/g, ''));
      expect(text).not.toContain(code.slice(6));
    }
  });

  it('replaces every earlier code when new ones are made, and keys codes to their user', async () => {
    const gus = await poort.addUser({ username: 'gus', password: PASSWORD });
    const secret = newTotpSecret();
    await poort.services.factors.add({ userId: gus, kind: 'totp', name: 'Token', secret });
    const old = await recovery.generate(gus);
    const fresh = await recovery.generate(gus);
    expect(await recovery.remaining(gus)).toBe(10);
    expect(await recovery.use(gus, old[0]!)).toEqual({ ok: false, reason: 'invalid_code' });
    expect(await recovery.use(gus, fresh[0]!)).toEqual({ ok: true, remaining: 9 });
    expect(await recovery.use(gus, fresh[0]!)).toEqual({ ok: false, reason: 'replayed' });
    expect(await recovery.use(gus, codes[9]!)).toEqual({ ok: false, reason: 'invalid_code' });
    // Next to recovery codes, the TOTP factor still comes first and works.
    const browser = new Browser();
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    const mfaPage = await authorizeInBrowser(browser, pending, { username: 'gus', password: PASSWORD });
    expect(mfaPage.body).toContain('?factor=recovery');
    expect((await submit(browser, mfaPage, await generate({ secret }))).status).toBe(0);
  });

  it('asks straight for a recovery code when the user has no factor left that the sign-in accepts', async () => {
    const hana = await poort.addUser({ username: 'hana', password: PASSWORD });
    const [code] = await recovery.generate(hana);
    const browser = new Browser();
    const pending = await startAuthorization(config, {
      redirectUri: REDIRECT,
      params: { acr_values: ACR.mfa },
    });
    const page = await authorizeInBrowser(browser, pending, { username: 'hana', password: PASSWORD });
    expect(page.status).toBe(200);
    expect(isRecoveryForm(page)).toBe(true);
    const used = await submit(browser, page, code!);
    expect(used.body).toContain('You have 9 recovery codes left.');
    const done = await submit(browser, used, '');
    expect((await redeemCode(config, done, pending)).claims()!.acr).toBe(ACR.mfa);
  });

  it('carries "Remember this device" from the recovery form through Continue', async () => {
    const ida = await poort.addUser({ username: 'ida', password: PASSWORD });
    await poort.services.factors.add({ userId: ida, kind: 'totp', name: 'Phone', secret: newTotpSecret() });
    const [first, second] = await recovery.generate(ida);
    const known = (browser: Browser) =>
      [...browser.cookies.values()].some((c) => c.name === KNOWN_DEVICE_COOKIE);
    for (const [code, ticked] of [
      [first!, false],
      [second!, true],
    ] as const) {
      const browser = new Browser();
      const pending = await startAuthorization(config, { redirectUri: REDIRECT });
      const mfaPage = await authorizeInBrowser(browser, pending, { username: 'ida', password: PASSWORD });
      const form = await openRecovery(browser, mfaPage);
      expect(form.body).toContain('name="remember_device" type="checkbox"');
      const fields = readForm(form).fields;
      const used = await browser.navigate(
        readForm(form).action,
        { form: { ...fields, code, ...(ticked ? { remember_device: 'yes' } : {}) } },
        REDIRECT,
      );
      expect(used.body).toContain('You used a recovery code');
      expect(readForm(used).fields.remember_device).toBe(ticked ? 'yes' : undefined);
      expect((await submit(browser, used, '')).status).toBe(0);
      expect(known(browser)).toBe(ticked);
    }
  });
});
