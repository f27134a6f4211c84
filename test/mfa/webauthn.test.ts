import type * as oidc from 'openid-client';
import type { Browser as Chromium, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredAuditEvent } from '../../src/audit/event.js';
import type { FactorRecord } from '../../src/mfa/factor.js';
import { WebauthnFactor, type WebauthnState } from '../../src/mfa/webauthn/factor.js';
import { KNOWN_DEVICE_COOKIE } from '../../src/policy/known-device.js';
import { Browser, readForm } from '../helpers/browser.js';
import {
  catchCallbacks,
  launchChromium,
  pageWithAuthenticator,
  type AuthenticatorPage,
} from '../helpers/chromium.js';
import { enrolPasskey } from '../helpers/passkey.js';
import {
  FAST_ARGON2,
  redeemCode,
  relyingParty,
  startAuthorization,
  type PendingAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const REDIRECT = 'http://127.0.0.1:7902/cb';
const PASSWORD = 'a passphrase nobody guesses';
const ACR_PHISHING_RESISTANT = 'urn:poort:acr:phishing-resistant';

describe('passkeys and security keys (WebAuthn) in Chromium', () => {
  let poort: TestPoort;
  let chromium: Chromium;
  let config: oidc.Configuration;
  let webauthn: WebauthnFactor;
  /** Poort's own policy, for the enrolment page the test serves in place of the enrolment pages */
  let csp: string;
  const pages: AuthenticatorPage[] = [];
  const cspViolations: string[] = [];

  beforeAll(async () => {
    [poort, chromium] = await Promise.all([startPoort(FAST_ARGON2), launchChromium()]);
    await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
    config = await relyingParty(poort, 'app', 'app-secret-0123456789');
    webauthn = new WebauthnFactor(poort.services);
    csp = (await fetch(`${poort.issuer}/healthz`)).headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
  });
  afterAll(async () => {
    await Promise.all(pages.map((p) => p.close()));
    await chromium?.close();
    await poort?.stop();
  });

  /** A browser of one person: its own cookies and its own authenticator; the application's callback is caught. */
  async function person(): Promise<AuthenticatorPage & { callback(): Promise<string> }> {
    const auth = await pageWithAuthenticator(chromium);
    pages.push(auth);
    auth.page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    const callback = await catchCallbacks(auth.page, REDIRECT);
    return Object.assign(auth, { callback });
  }

  async function user(username: string): Promise<string> {
    return poort.addUser({ username, password: PASSWORD, name: `${username} test` });
  }

  async function enrol(auth: AuthenticatorPage, userId: string, name: string): Promise<FactorRecord> {
    return enrolPasskey(poort, webauthn, csp, auth, userId, name);
  }

  /** A new sign-in: without the session of an earlier one, which would answer at once (single sign-on). */
  async function openSignIn(page: Page): Promise<PendingAuthorization> {
    await page.context().clearCookies();
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    await page.goto(pending.url.href);
    return pending;
  }

  async function password(page: Page, username: string): Promise<void> {
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/signin\/[^/]+\/mfa$/);
  }

  async function eventsSince(seq: number): Promise<StoredAuditEvent[]> {
    return poort.services.audit.readAfter(seq, 100);
  }

  async function lastSeq(): Promise<number> {
    return (await poort.services.audit.query({ limit: 1 }))[0]?.seq ?? 0;
  }

  it('enrols a passkey through the enrolment ceremony and keeps only its public key and counter', async () => {
    const ana = await user('ana');
    const auth = await person();
    const factor = await enrol(auth, ana, 'Work laptop');
    expect(factor).toMatchObject({ userId: ana, kind: 'webauthn', name: 'Work laptop' });
    const [credential] = await auth.credentials();
    expect(credential!.isResidentCredential).toBe(true);
    const stored = await poort.services.factors.withSecret<
      { credentialID: string; publicKey: string },
      WebauthnState
    >(factor.id);
    expect(stored!.secret.credentialID).toBe(
      Buffer.from(credential!.credentialId, 'base64').toString('base64url'),
    );
    expect(stored!.state).toMatchObject({
      counter: expect.any(Number),
      backedUp: false,
      deviceType: 'singleDevice',
    });
    // The same authenticator cannot be added twice: the browser refuses (excludeCredentials), and says so.
    const again = await webauthn.enrolment.begin(
      {
        user: (await poort.services.directory.findById(ana))!,
        binding: 'x',
        action: '/x',
        csrf: 'x',
        ip: '127.0.0.1',
        organisation: 'Poort test',
        origin: poort.issuer,
      },
      {},
    );
    expect(JSON.parse(String(again.vars.webauthnOptions)).excludeCredentials).toEqual([
      expect.objectContaining({ id: stored!.secret.credentialID }),
    ]);
  });

  it('signs in with a password and a passkey as second factor: amr hwk, phishing-resistant acr', async () => {
    const bo = await user('bo');
    const auth = await person();
    await enrol(auth, bo, 'Key');
    const since = await lastSeq();
    const pending = await openSignIn(auth.page);
    await password(auth.page, 'bo');
    await expect(auth.page.getByRole('button', { name: 'Use passkey' }).isVisible()).resolves.toBe(true);
    // the page's script posts the form with the browser's answer: a ticked "Remember this device" goes with it
    await auth.page.getByLabel('Remember this device for 30 days').check();
    await auth.page.getByRole('button', { name: 'Use passkey' }).click();
    const claims = (await redeemCode(config, await auth.callback(), pending)).claims()!;
    const cookies = await auth.page.context().cookies();
    expect(cookies.find((c) => c.name === KNOWN_DEVICE_COOKIE)).toMatchObject({
      httpOnly: true,
      sameSite: 'Lax',
    });
    expect(claims.amr).toEqual(['pwd', 'hwk', 'user', 'mfa']);
    expect(claims.acr).toBe(ACR_PHISHING_RESISTANT);
    const events = await eventsSince(since);
    expect(events.find((e) => e.event.action === 'signin.mfa')!.event).toMatchObject({
      outcome: 'success',
      details: { factor: 'webauthn' },
      subject: { username: 'bo' },
    });
  });

  it('signs in with a passkey alone from the sign-in page, without a password', async () => {
    const cy = await user('cy');
    const auth = await person();
    const factor = await enrol(auth, cy, 'Phone');
    const since = await lastSeq();
    const pending = await openSignIn(auth.page);
    const button = auth.page.getByRole('button', { name: 'Sign in with a passkey' });
    await button.waitFor({ state: 'visible' });
    await button.click();
    const claims = (await redeemCode(config, await auth.callback(), pending)).claims()!;
    expect(claims.sub).toBe(cy);
    expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
    expect(claims.acr).toBe(ACR_PHISHING_RESISTANT);
    const events = (await eventsSince(since)).map((e) => e.event);
    expect(events.find((e) => e.action === 'signin.mfa')).toMatchObject({
      outcome: 'success',
      subject: { id: cy, username: 'cy' },
      details: { factor: 'webauthn', passwordless: true, factor_id: factor.id },
    });
    expect(events.some((e) => e.action === 'signin.password')).toBe(false);
    expect(events.find((e) => e.action === 'signin.completed')).toMatchObject({
      details: { amr: ['hwk', 'user', 'mfa'], acr: ACR_PHISHING_RESISTANT },
    });
  });

  it('refuses a cloned authenticator (its signature counter goes backwards) and records the failure', async () => {
    const dee = await user('dee');
    const auth = await person();
    const factor = await enrol(auth, dee, 'Key');
    const [exported] = await auth.credentials();

    const pending = await openSignIn(auth.page);
    await password(auth.page, 'dee');
    await auth.page.getByRole('button', { name: 'Use passkey' }).click();
    await redeemCode(config, await auth.callback(), pending);
    const advanced = await poort.services.factors.withSecret<unknown, WebauthnState>(factor.id);
    expect(advanced!.state.counter).toBeGreaterThan(exported!.signCount);

    // The copy made before that sign-in answers with a counter the original has already used.
    await auth.removeCredential(exported!.credentialId);
    await auth.addCredential(exported!);
    const since = await lastSeq();
    await openSignIn(auth.page);
    await password(auth.page, 'dee');
    const response = auth.page.waitForResponse(
      (r) => r.request().method() === 'POST' && /\/mfa$/.test(r.url()),
    );
    await auth.page.getByRole('button', { name: 'Use passkey' }).click();
    expect((await response).status()).toBe(401);
    await expect(auth.page.getByRole('alert').textContent()).resolves.toContain('could not be verified');
    const failure = (await eventsSince(since)).find((e) => e.event.action === 'signin.mfa')!.event;
    expect(failure).toMatchObject({
      outcome: 'failure',
      reason: 'invalid_response',
      subject: { id: dee },
      details: { factor: 'webauthn', factor_id: factor.id },
    });
    const unchanged = await poort.services.factors.withSecret<unknown, WebauthnState>(factor.id);
    expect(unchanged!.state.counter).toBe(advanced!.state.counter);

    // Without a password the clone (planted afresh: it counted on meanwhile) is refused too, and the trail says why.
    await auth.removeCredential(exported!.credentialId);
    await auth.addCredential(exported!);
    const since2 = await lastSeq();
    await openSignIn(auth.page);
    const passkeyResponse = auth.page.waitForResponse(
      (r) => r.request().method() === 'POST' && /\/passkey$/.test(r.url()),
    );
    await auth.page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    expect((await passkeyResponse).status()).toBe(401);
    expect((await eventsSince(since2)).find((e) => e.event.action === 'signin.mfa')!.event).toMatchObject({
      outcome: 'failure',
      details: { passwordless: true, failure: 'counter_regressed', factor_id: factor.id },
    });
  });

  it("does not let one user's passkey answer for another user's second factor", async () => {
    const eli = await user('eli');
    const fay = await user('fay');
    const eliAuth = await person();
    await enrol(eliAuth, eli, 'Eli key');
    const fayAuth = await person();
    await enrol(fayAuth, fay, 'Fay key');

    // Fay knows Eli's password. Her authenticator has no credential for Eli's factor: the browser finds none.
    await openSignIn(fayAuth.page);
    await password(fayAuth.page, 'eli');
    await fayAuth.page.getByRole('button', { name: 'Use passkey' }).click();
    await expect(fayAuth.page.getByRole('alert').textContent()).resolves.toMatch(/cancelled|could not/);

    // So she answers Eli's challenge with her own passkey, as a modified page could.
    const since = await lastSeq();
    const response = fayAuth.page.waitForResponse(
      (r) => r.request().method() === 'POST' && /\/mfa$/.test(r.url()),
    );
    // (A string: the test is compiled without the DOM's types.)
    await fayAuth.page.evaluate(`(async () => {
      const form = document.querySelector('form[data-webauthn]');
      const json = JSON.parse(form.dataset.options);
      const options = PublicKeyCredential.parseRequestOptionsFromJSON({ ...json, allowCredentials: [] });
      const credential = await navigator.credentials.get({ publicKey: options });
      form.elements.namedItem('credential').value = JSON.stringify(credential.toJSON());
      form.submit();
    })()`);
    expect((await response).status()).toBe(401);
    const failure = (await eventsSince(since)).find((e) => e.event.action === 'signin.mfa')!.event;
    expect(failure).toMatchObject({ outcome: 'failure', reason: 'invalid_response', subject: { id: eli } });
  });

  it('refuses a passkey of a disabled user, and one Poort does not know, like a wrong one', async () => {
    const gus = await user('gus');
    const auth = await person();
    const factor = await enrol(auth, gus, 'Key');
    const attempt = async () => {
      const since = await lastSeq();
      await openSignIn(auth.page);
      const response = auth.page.waitForResponse(
        (r) => r.request().method() === 'POST' && /\/passkey$/.test(r.url()),
      );
      await auth.page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      expect((await response).status()).toBe(401);
      await expect(auth.page.getByRole('alert').textContent()).resolves.toContain(
        'Your passkey could not be used to sign in',
      );
      return (await eventsSince(since)).find((e) => e.event.action === 'signin.mfa')!.event;
    };

    await poort.services.users.setEnabled('gus', false);
    expect(await attempt()).toMatchObject({
      outcome: 'failure',
      subject: { id: gus },
      details: { passwordless: true, failure: 'user_disabled', factor_id: factor.id },
    });

    await poort.services.users.setEnabled('gus', true);
    await poort.services.factors.remove(factor.id, gus);
    expect(await attempt()).toMatchObject({
      outcome: 'failure',
      subject: { known: false },
      details: { passwordless: true, failure: 'unknown_credential' },
    });
  });

  it('ran every page under the strict CSP without a violation', () => {
    expect(cspViolations).toEqual([]);
  });
});

describe('passkey sign-in switched off (mfa.webauthn.passkey_signin: false)', () => {
  it('offers no password-less sign-in: neither options nor the answer are accepted', async () => {
    const poort = await startPoort(`${FAST_ARGON2}mfa: { webauthn: { passkey_signin: false } }\n`);
    try {
      await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
      const config = await relyingParty(poort, 'app', 'app-secret-0123456789');
      const browser = new Browser();
      const pending = await startAuthorization(config, { redirectUri: REDIRECT });
      const page = await browser.navigate(pending.url.href, {}, REDIRECT);
      const { action, fields } = readForm(page);
      for (const path of ['/passkey/options', '/passkey']) {
        const answer = await browser.request(action.replace(/\/login$/, path), {
          form: { csrf: fields.csrf!, credential: '{}' },
        });
        expect(answer.status, path).toBe(404);
      }
    } finally {
      await poort.stop();
    }
  });
});
