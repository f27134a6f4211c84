import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { FAST_ARGON2, protocolError, relyingParty, signIn } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'http://127.0.0.1:7777/cb';
const SECRET = 'app-secret-0123456789';

describe('introspection and revocation of user tokens', () => {
  let poort: TestPoort;
  let annaId: string;
  let config: oidc.Configuration;
  const signInAnna = async () =>
    (
      await signIn(
        config,
        new Browser(),
        { username: 'anna', password: PASSWORD },
        { redirectUri: REDIRECT, scope: 'openid profile' },
      )
    ).tokens;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    annaId = await poort.addUser({ username: 'anna', password: PASSWORD });
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    await poort.addClient({ clientId: 'spa', redirectUris: ['http://127.0.0.1/cb'] });
    config = await relyingParty(poort, 'app', SECRET);
  });
  afterAll(async () => poort?.stop());

  it('describes an active access token: subject, client, scope, expiry', async () => {
    const tokens = await signInAnna();
    const now = Math.floor(Date.now() / 1000);
    const introspection = await oidc.tokenIntrospection(config, tokens.access_token);
    expect(introspection).toMatchObject({
      active: true,
      sub: annaId,
      client_id: 'app',
      token_type: 'Bearer',
      iss: poort.issuer,
    });
    expect(introspection.scope?.split(' ').sort()).toEqual(['openid', 'profile']);
    expect(introspection.exp).toBeGreaterThan(now);
  });

  it('makes a revoked access token inactive and useless at userinfo', async () => {
    const tokens = await signInAnna();
    await oidc.tokenRevocation(config, tokens.access_token);
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: false });
    expect(await protocolError(oidc.fetchUserInfo(config, tokens.access_token, annaId))).toMatchObject({
      status: 401,
    });
  });

  it('makes a revoked refresh token inactive and useless for refreshing', async () => {
    const tokens = await signInAnna();
    expect(await oidc.tokenIntrospection(config, tokens.refresh_token!)).toMatchObject({
      active: true,
      sub: annaId,
    });
    await oidc.tokenRevocation(config, tokens.refresh_token!);
    expect(await oidc.tokenIntrospection(config, tokens.refresh_token!)).toMatchObject({ active: false });
    expect(await protocolError(oidc.refreshTokenGrant(config, tokens.refresh_token!))).toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('says inactive, and nothing more, for a token it never issued', async () => {
    expect(await oidc.tokenIntrospection(config, 'not-a-token-of-poort')).toEqual({ active: false });
  });

  it('answers introspection only to an authenticated client', async () => {
    const tokens = await signInAnna();
    const anonymous = await fetch(`${poort.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    expect(anonymous.status).toBe(400);
    expect(await anonymous.json()).toMatchObject({
      error: 'invalid_request',
      error_description: 'no client authentication mechanism provided',
    });

    // A public client has no credentials to prove who it is: it learns nothing about others' tokens.
    const spa = await relyingParty(poort, 'spa');
    expect(await oidc.tokenIntrospection(spa, tokens.access_token)).toEqual({ active: false });
  });
});
