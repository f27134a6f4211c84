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

describe('loopback redirect URIs of native applications (RFC 8252)', () => {
  let poort: TestPoort;
  let annaId: string;
  let native: oidc.Configuration;
  let web: oidc.Configuration;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    annaId = await poort.addUser(ANNA);
    await poort.addClient({ clientId: 'desktop', redirectUris: ['http://127.0.0.1/callback'] });
    await poort.addClient({
      clientId: 'web',
      secret: 'web-secret-0123456789',
      redirectUris: ['http://127.0.0.1:7777/callback'],
    });
    native = await relyingParty(poort, 'desktop');
    web = await relyingParty(poort, 'web', 'web-secret-0123456789');
  });
  afterAll(async () => poort?.stop());

  it('lets a public client listen on any port of its registered loopback URI, and redeem with PKCE alone', async () => {
    for (const port of [49152, 61234]) {
      const redirectUri = `http://127.0.0.1:${port}/callback`;
      const pending = await startAuthorization(native, { redirectUri, scope: 'openid profile' });
      const browser = new Browser();
      // Any program on the device could listen on that port: the person confirms each time, first party or not.
      const consent = await authorizeInBrowser(browser, pending, ANNA);
      expect(isConsentPage(consent)).toBe(true);
      expect(consent.body).toContain('Your identity');
      expect(consent.body).toContain('Your name and profile details');
      const callback = await answerConsent(browser, consent, 'allow', redirectUri);
      expect(callback.status).toBe(0);
      expect(callback.url.startsWith(`${redirectUri}?`)).toBe(true);
      const tokens = await redeemCode(native, callback, pending);
      expect(tokens.claims()).toMatchObject({ sub: annaId, aud: 'desktop' });
    }
  });

  it('still holds a native client to the registered path', async () => {
    const pending = await startAuthorization(native, { redirectUri: 'http://127.0.0.1:49152/elsewhere' });
    const page = await new Browser().request(pending.url.href);
    expect(page.status).toBe(400);
    expect(page.headers.get('location')).toBeNull();
    expect(page.body).toContain('<code>invalid_redirect_uri</code>');
  });

  it('holds a confidential client to its exact redirect URI, port included', async () => {
    const ok = await authorizeInBrowser(
      new Browser(),
      await startAuthorization(web, { redirectUri: 'http://127.0.0.1:7777/callback' }),
      ANNA,
    );
    expect(ok.status).toBe(0);

    const pending = await startAuthorization(web, { redirectUri: 'http://127.0.0.1:7778/callback' });
    const page = await new Browser().request(pending.url.href);
    expect(page.status).toBe(400);
    expect(page.headers.get('location')).toBeNull();
    expect(page.body).toContain('<code>invalid_redirect_uri</code>');
  });
});
