import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  protocolError,
  redeemCode,
  relyingParty,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };
const REDIRECT = 'http://127.0.0.1:7777/cb';

describe('pushed authorization requests (PAR)', () => {
  let poort: TestPoort;
  let annaId: string;
  let config: oidc.Configuration;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    annaId = await poort.addUser(ANNA);
    await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
    config = await relyingParty(poort, 'app', 'app-secret-0123456789');
  });
  afterAll(async () => poort?.stop());

  it('advertises the endpoint in discovery', () => {
    expect(config.serverMetadata().pushed_authorization_request_endpoint).toBe(`${poort.issuer}/request`);
  });

  it('completes a sign-in from a pushed request: the browser carries only client_id and request_uri', async () => {
    const pending = await startAuthorization(config, {
      redirectUri: REDIRECT,
      scope: 'openid profile',
      par: true,
    });
    expect([...pending.url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(pending.url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);

    const callback = await authorizeInBrowser(new Browser(), pending, ANNA);
    expect(callback.status).toBe(0);
    const tokens = await redeemCode(config, callback, pending);
    expect(tokens.claims()).toMatchObject({ sub: annaId, preferred_username: 'anna', nonce: pending.nonce });
  });

  it('uses a request_uri once', async () => {
    const pending = await startAuthorization(config, { redirectUri: REDIRECT, par: true });
    const browser = new Browser();
    expect((await authorizeInBrowser(browser, pending, ANNA)).status).toBe(0);
    const replay = await browser.request(pending.url.href);
    expect(replay.status).toBe(303);
    const location = new URL(replay.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect(location.searchParams.get('error')).toBe('invalid_request_uri');
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('refuses to push a request with an unregistered redirect_uri', async () => {
    const refused = await protocolError(
      startAuthorization(config, { redirectUri: 'https://evil.example/cb', par: true }),
    );
    expect(refused).toMatchObject({ error: 'invalid_request', status: 400 });
    expect(refused.description).toMatch(/redirect_uri did not match/);
  });
});
