import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import {
  answerConsent,
  authorizeInBrowser,
  FAST_ARGON2,
  isConsentPage,
  redeemCode,
  relyingParty,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };
const REDIRECT = 'http://127.0.0.1:7777/cb';

describe('consent', () => {
  let poort: TestPoort;
  let annaId: string;
  let thirdParty: oidc.Configuration;
  let firstParty: oidc.Configuration;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    annaId = await poort.addUser({ ...ANNA, name: 'Anna de Vries' });
    await poort.addClient({
      clientId: 'partner',
      name: 'Partner Portal',
      secret: 'partner-secret-0123456789',
      redirectUris: [REDIRECT],
      firstParty: false,
    });
    await poort.addClient({
      clientId: 'intranet',
      secret: 'intranet-secret-0123456789',
      redirectUris: [REDIRECT],
      firstParty: true,
    });
    thirdParty = await relyingParty(poort, 'partner', 'partner-secret-0123456789');
    firstParty = await relyingParty(poort, 'intranet', 'intranet-secret-0123456789');
  });
  afterAll(async () => poort?.stop());

  it('asks after the password which of the requested scopes the application may have; allow gives a code', async () => {
    const browser = new Browser();
    const pending = await startAuthorization(thirdParty, {
      redirectUri: REDIRECT,
      scope: 'openid profile email',
    });
    const consent = await authorizeInBrowser(browser, pending, ANNA);
    expect(isConsentPage(consent)).toBe(true);
    expect(consent.body).toContain('Partner Portal asks for access to:');
    for (const label of ['Your identity', 'Your name and profile details', 'Your email address'])
      expect(consent.body).toContain(label);
    expect(consent.body).not.toContain('The groups you belong to');
    expect(consent.body).toContain('Signed in as Anna de Vries');

    const callback = await answerConsent(browser, consent, 'allow', REDIRECT);
    expect(callback.status).toBe(0);
    const tokens = await redeemCode(thirdParty, callback, pending);
    expect(tokens.claims()).toMatchObject({ sub: annaId, name: 'Anna de Vries', email: 'anna@example.org' });
    expect(tokens.scope?.split(' ').sort()).toEqual(['email', 'openid', 'profile']);
  });

  it('remembers the consent, and asks again only for scopes not yet given', async () => {
    const browser = new Browser();
    const first = await authorizeInBrowser(
      browser,
      await startAuthorization(thirdParty, { redirectUri: REDIRECT, scope: 'openid profile' }),
      ANNA,
    );
    expect((await answerConsent(browser, first, 'allow', REDIRECT)).status).toBe(0);

    const same = await authorizeInBrowser(
      browser,
      await startAuthorization(thirdParty, { redirectUri: REDIRECT, scope: 'openid profile' }),
    );
    expect(same.status).toBe(0);

    const more = await authorizeInBrowser(
      browser,
      await startAuthorization(thirdParty, { redirectUri: REDIRECT, scope: 'openid profile groups' }),
    );
    expect(isConsentPage(more)).toBe(true);
    expect(more.body).toContain('The groups you belong to');
    expect(more.body).not.toContain('Your name and profile details');
  });

  it('returns access_denied to the application, with its state, when the person denies', async () => {
    const browser = new Browser();
    const pending = await startAuthorization(thirdParty, { redirectUri: REDIRECT, scope: 'openid email' });
    const consent = await authorizeInBrowser(browser, pending, ANNA);
    const callback = await answerConsent(browser, consent, 'deny', REDIRECT);
    expect(callback.status).toBe(0);
    const params = new URL(callback.url).searchParams;
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('state')).toBe(pending.state);
    expect(params.get('code')).toBeNull();
    await expect(redeemCode(thirdParty, callback, pending)).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('never asks for a first-party application', async () => {
    const browser = new Browser();
    const pending = await startAuthorization(firstParty, {
      redirectUri: REDIRECT,
      scope: 'openid profile email groups offline_access',
    });
    const callback = await authorizeInBrowser(browser, pending, ANNA);
    expect(callback.status).toBe(0);
    const tokens = await redeemCode(firstParty, callback, pending);
    expect(tokens.claims()).toMatchObject({ sub: annaId });
  });
});
