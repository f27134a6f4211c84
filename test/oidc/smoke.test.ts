import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, readForm } from '../helpers/browser.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

describe('smoke', () => {
  let poort: TestPoort;
  beforeAll(async () => {
    poort = await startPoort();
    await poort.addUser({ username: 'anna', password: 'correct horse battery staple', groups: ['staff'] });
    await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: ['http://127.0.0.1:7777/cb'] });
  });
  afterAll(async () => poort?.stop());

  it('signs in', async () => {
    const config = await oidc.discovery(new URL(poort.issuer), 'app', 'app-secret-0123456789', undefined, { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: 'http://127.0.0.1:7777/cb',
      scope: 'openid profile email groups',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    const browser = new Browser();
    const login = await browser.navigate(url.href);
    expect(login.status).toBe(200);
    const form = readForm(login);
    const done = await browser.navigate(form.action, { form: { ...form.fields, username: 'anna', password: 'correct horse battery staple' } }, 'http://127.0.0.1:7777/cb');
    expect(done.status).toBe(0);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(done.url), { pkceCodeVerifier: verifier, expectedState: state });
    const claims = tokens.claims()!;
    expect(claims.preferred_username).toBe('anna');
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.groups).toEqual(['staff']);
    expect(tokens.refresh_token).toBeTruthy();
  });
});
