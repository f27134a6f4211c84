import type * as oidc from 'openid-client';
import type { Browser as Chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { WebauthnFactor } from '../../src/mfa/webauthn/factor.js';
import {
  catchCallbacks,
  launchChromium,
  pageWithAuthenticator,
  type AuthenticatorPage,
} from '../helpers/chromium.js';
import { enrolPasskey } from '../helpers/passkey.js';
import { redeemCode, relyingParty, startAuthorization } from '../helpers/oidc.js';
import type { TestPoort } from '../helpers/poort.js';
import { ISSUE_POLICY, startPolicyPoort } from './enforcement-setup.js';

const REDIRECT = 'http://127.0.0.1:7912/cb';
const PASSWORD = 'a passphrase nobody guesses';
const SECRET = 'app-secret-0123456789';
const ACR = { password: 'urn:poort:acr:password', phishingResistant: 'urn:poort:acr:phishing-resistant' };

describe('contextual policies with passkeys (Chromium, virtual authenticator)', () => {
  let poort: TestPoort;
  let chromium: Chromium;
  let app: oidc.Configuration;
  let payroll: oidc.Configuration;
  let webauthn: WebauthnFactor;
  let csp: string;
  const pages: AuthenticatorPage[] = [];

  beforeAll(async () => {
    [poort, chromium] = await Promise.all([startPolicyPoort(ISSUE_POLICY), launchChromium()]);
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    await poort.addClient({ clientId: 'payroll', secret: SECRET, redirectUris: [REDIRECT] });
    [app, payroll] = await Promise.all([
      relyingParty(poort, 'app', SECRET),
      relyingParty(poort, 'payroll', SECRET),
    ]);
    webauthn = new WebauthnFactor(poort.services);
    csp = (await fetch(`${poort.issuer}/healthz`)).headers.get('content-security-policy')!;
  });
  afterAll(async () => {
    await Promise.all(pages.map((p) => p.close()));
    await chromium?.close();
    await poort?.stop();
  });

  /** A person's browser with a passkey for a new user; the proxy in front of Poort reports `ip` as its address. */
  async function personWithPasskey(username: string, ip: string) {
    const auth = await pageWithAuthenticator(chromium);
    pages.push(auth);
    await auth.context.setExtraHTTPHeaders({ 'x-forwarded-for': ip });
    const callback = await catchCallbacks(auth.page, REDIRECT);
    const id = await poort.addUser({ username, password: PASSWORD });
    await enrolPasskey(poort, webauthn, csp, auth, id);
    return Object.assign(auth, { id, callback });
  }

  async function lastSeq(): Promise<number> {
    return (await poort.services.audit.query({ limit: 1 }))[0]?.seq ?? 0;
  }

  async function eventsSince(seq: number): Promise<AuditEvent[]> {
    return (await poort.services.audit.readAfter(seq, 200)).map((e) => e.event);
  }

  it('lets a password-less passkey sign-in outside the office through: it satisfies any second factor asked', async () => {
    const ann = await personWithPasskey('ann', '145.97.39.155');
    const since = await lastSeq();
    const pending = await startAuthorization(app, { redirectUri: REDIRECT });
    await ann.page.goto(pending.url.href);
    await ann.page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const claims = (await redeemCode(app, await ann.callback(), pending)).claims()!;
    expect(claims.acr).toBe(ACR.phishingResistant);
    const completed = (await eventsSince(since)).find((e) => e.action === 'signin.completed')!;
    expect(completed.policy).toMatchObject({ rule: 'outside-trusted-networks', decision: 'mfa' });
  });

  it('refuses a password-less passkey sign-in from an embargoed country: a passkey is no way around a denial', async () => {
    const kim = await personWithPasskey('kim', '175.45.176.1');
    const since = await lastSeq();
    const pending = await startAuthorization(app, { redirectUri: REDIRECT });
    await kim.page.goto(pending.url.href);
    const [answer] = await Promise.all([
      kim.page.waitForResponse((r) => r.url().endsWith('/passkey') && r.request().method() === 'POST'),
      kim.page.getByRole('button', { name: 'Sign in with a passkey' }).click(),
    ]);
    expect(answer.status()).toBe(403);
    // the 403 answer is in; the page it leads to may still be loading
    await kim.page.getByRole('heading', { name: 'Sign-in not allowed' }).waitFor({ state: 'visible' });
    const events = await eventsSince(since);
    expect(events.find((e) => e.action === 'signin.mfa')).toMatchObject({
      outcome: 'success',
      details: { passwordless: true },
    });
    expect(events.find((e) => e.action === 'signin.denied')).toMatchObject({
      reason: 'policy_denied',
      subject: { id: kim.id },
      policy: { decision: 'deny' },
    });
    expect(events.some((e) => e.action === 'signin.completed')).toBe(false);
  });

  it('steps up a password-only session for payroll with the passkey alone, then single sign-on holds', async () => {
    const lou = await personWithPasskey('lou', '192.0.2.44');
    const first = await startAuthorization(app, { redirectUri: REDIRECT });
    await lou.page.goto(first.url.href);
    await lou.page.getByLabel('Username').fill('lou');
    await lou.page.getByLabel('Password').fill(PASSWORD);
    await lou.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    expect((await redeemCode(app, await lou.callback(), first)).claims()!.acr).toBe(ACR.password);
    // the callback page must have loaded before the next navigation, or it interrupts that one
    await lou.page.waitForURL((url) => url.pathname === '/cb');

    const pending = await startAuthorization(payroll, { redirectUri: REDIRECT });
    await lou.page.goto(pending.url.href);
    await lou.page.waitForURL(/\/signin\/[^/]+\/mfa$/);
    await expect(lou.page.getByLabel('Password').count()).resolves.toBe(0);
    await lou.page.getByRole('button', { name: 'Use passkey' }).click();
    const claims = (await redeemCode(payroll, await lou.callback(), pending)).claims()!;
    expect(claims.acr).toBe(ACR.phishingResistant);
    expect(claims.amr).toEqual(['pwd', 'hwk', 'user', 'mfa']);

    // Within max_age the session is enough for payroll: straight back with a code (the browser's own cookies).
    const again = await startAuthorization(payroll, { redirectUri: REDIRECT });
    const answer = await lou.context.request.get(again.url.href, { maxRedirects: 0 });
    expect(answer.status()).toBe(303);
    expect(answer.headers().location).toMatch(/^http:\/\/127\.0\.0\.1:7912\/cb\?code=/);
  });
});
