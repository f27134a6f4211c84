import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { Browser, type Page } from '../helpers/browser.js';
import { authorizeInBrowser, relyingParty, startAuthorization } from '../helpers/oidc.js';
import type { TestPoort } from '../helpers/poort.js';
import { isCodeForm, signInAt, totpCode, walk } from '../helpers/saml-browser.js';
import { startSamlPoort } from '../helpers/saml-poort.js';
import { ServiceProvider } from '../helpers/saml-sp.js';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';

const PASSWORD = 'correct horse battery staple';
const TIME_SYNC_TOKEN = 'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken';
const REFEDS_MFA = 'https://refeds.org/profile/mfa';
const REDIRECT = 'http://127.0.0.1:7963/cb';
const SECRET = 'app-secret-0123456789';

/**
 * SAML's TimeSyncToken stands for a time-based one-time password: Poort answers it only after TOTP (or a stronger
 * factor), in a new sign-in and within a single sign-on session, and never after a code sent by e-mail. The ID
 * token's acr is the same for both; the strength kept beside the session tells them apart.
 */
describe('SAML TimeSyncToken and the strength of the second factor', { timeout: 90_000 }, () => {
  let smtp: TestSmtpServer;
  let poort: TestPoort;
  let sp: ServiceProvider;
  let rp: oidc.Configuration;
  let evaSecret: string;
  let evaCodes = 0;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    sp = await ServiceProvider.create({ entityId: 'https://tokens.example.test/sp' });
    poort = await startSamlPoort([{ sp }], {
      yaml:
        'mfa:\n  required: never\n  otp:\n    email: ' +
        `{ type: smtp, host: 127.0.0.1, port: ${smtp.port}, security: none, from: no-reply@example.org }\n`,
    });
    // eva has an authenticator app (TOTP); mia gets her codes by e-mail
    const eva = await poort.addUser({ username: 'eva', password: PASSWORD, email: 'eva@example.org' });
    evaSecret = newTotpSecret();
    await poort.services.factors.add({ userId: eva, kind: 'totp', name: 'Phone', secret: evaSecret });
    const mia = await poort.addUser({ username: 'mia', password: PASSWORD, email: 'mia@example.org' });
    await poort.services.factors.add({
      userId: mia,
      kind: 'email',
      name: 'Work mail',
      secret: 'mia@example.org',
    });
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    rp = await relyingParty(poort, 'app', SECRET);
  }, 120_000);
  afterAll(async () => {
    await poort?.stop();
    await smtp?.close();
  });

  const eva = { username: 'eva', password: PASSWORD, totp: () => totpCode(evaSecret, -1 + evaCodes++) };
  const mia = {
    username: 'mia',
    password: PASSWORD,
    totp: async () => codeIn((await smtp.waitFor('mia@example.org')).text),
  };

  /** The page a sign-in reaches when it needs a factor stronger than any the user has set up. */
  const expectEnrolmentPage = (page: Page) => {
    expect(page.status).toBe(200);
    expect(new URL(page.url).pathname).toMatch(/^\/signin\/[^/]+\/enrol$/);
    expect(page.body).toContain('needs a stronger second factor than the ones you have set up');
  };

  it('answers TimeSyncToken after a sign-in with TOTP', async () => {
    const browser = new Browser();
    const request = await sp.redirectRequest({ authnContext: [TIME_SYNC_TOKEN], comparison: 'exact' });
    const walked = await signInAt(sp, browser, request, eva);
    expect(walked.prompts).toEqual(['password', 'code']);
    const result = await sp.validateResponse(walked.post.fields as { SAMLResponse: string });
    expect(result.authnContextClassRef).toBe(TIME_SYNC_TOKEN);
  });

  it('does not take a code by e-mail for TimeSyncToken', async () => {
    const browser = new Browser();
    const request = await sp.redirectRequest({ authnContext: [TIME_SYNC_TOKEN], comparison: 'exact' });
    const walked = await walk(browser, await browser.navigate(request.url), mia);
    // after the password no code is sent: mia has no factor strong enough, and may only enrol one (with the
    // helpdesk's enrolment code); the SP gets nothing
    expect(walked.prompts).toEqual(['password']);
    expect(walked.post).toBeUndefined();
    expect(isCodeForm(walked.page)).toBe(false);
    expectEnrolmentPage(walked.page);
    expect(smtp.to('mia@example.org')).toHaveLength(0);
  });

  it('asks again inside a session signed in with an e-mail code, instead of answering TimeSyncToken', async () => {
    const browser = new Browser();
    const first = await signInAt(
      sp,
      browser,
      await sp.redirectRequest({ authnContext: [REFEDS_MFA], comparison: 'minimum' }),
      mia,
    );
    expect(first.prompts).toEqual(['password', 'code']);
    expect(
      (await sp.validateResponse(first.post.fields as { SAMLResponse: string })).authnContextClassRef,
    ).toBe(REFEDS_MFA);

    const request = await sp.redirectRequest({ authnContext: [TIME_SYNC_TOKEN], comparison: 'minimum' });
    const walked = await walk(browser, await browser.navigate(request.url));
    expect(walked.post).toBeUndefined();
    expectEnrolmentPage(walked.page);
  });

  it('answers TimeSyncToken without a prompt inside a session signed in with TOTP', async () => {
    const browser = new Browser();
    const first = await signInAt(
      sp,
      browser,
      await sp.redirectRequest({ authnContext: [REFEDS_MFA], comparison: 'minimum' }),
      eva,
    );
    expect(first.prompts).toEqual(['password', 'code']);

    const again = await signInAt(
      sp,
      browser,
      await sp.redirectRequest({ authnContext: [TIME_SYNC_TOKEN], comparison: 'exact' }),
    );
    expect(again.prompts).toEqual([]);
    const result = await sp.validateResponse(again.post.fields as { SAMLResponse: string });
    expect(result.authnContextClassRef).toBe(TIME_SYNC_TOKEN);
  });

  it('refuses the SAML front-end parameters from any other client (invalid_request)', async () => {
    const attempts: Array<Record<string, string>> = [
      { poort_sp_requirement: 'none' },
      { poort_sp: sp.entityId },
    ];
    for (const params of attempts) {
      const pending = await startAuthorization(rp, { redirectUri: REDIRECT, params });
      const page = await authorizeInBrowser(new Browser(), pending);
      expect(page.status).toBe(0);
      const callback = new URL(page.url);
      expect(callback.searchParams.get('error')).toBe('invalid_request');
      expect(callback.searchParams.get('error_description')).toMatch(/reserved for Poort's SAML front-end/);
    }
  });
});
