import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { FAST_ARGON2, protocolError, relyingParty, signIn } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'http://127.0.0.1:7777/cb';
const SECRET = 'app-secret-0123456789';

describe('refresh token rotation', () => {
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
    config = await relyingParty(poort, 'app', SECRET);
  });
  afterAll(async () => poort?.stop());

  it('answers a refresh with new tokens and a new refresh token', async () => {
    const first = await signInAnna();
    const second = await oidc.refreshTokenGrant(config, first.refresh_token!);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    expect(second.claims()).toMatchObject({ sub: annaId, acr: 'urn:poort:acr:password', amr: ['pwd'] });
    expect(second.claims()!.auth_time).toBe(first.claims()!.auth_time);
    expect(await oidc.fetchUserInfo(config, second.access_token, annaId)).toMatchObject({
      sub: annaId,
      preferred_username: 'anna',
    });
  });

  it('treats reuse of a rotated refresh token as theft: invalid_grant, and the whole grant is revoked', async () => {
    const first = await signInAnna();
    const second = await oidc.refreshTokenGrant(config, first.refresh_token!);

    expect(await protocolError(oidc.refreshTokenGrant(config, first.refresh_token!))).toMatchObject({
      error: 'invalid_grant',
      status: 400,
    });
    expect(await protocolError(oidc.refreshTokenGrant(config, second.refresh_token!))).toMatchObject({
      error: 'invalid_grant',
      status: 400,
    });
    expect((await oidc.tokenIntrospection(config, first.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(config, second.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(config, second.refresh_token!)).active).toBe(false);
  });

  it('lets exactly one of two parallel refreshes of the same token succeed, and revokes the grant', async () => {
    const first = await signInAnna();
    const outcomes = await Promise.allSettled([
      oidc.refreshTokenGrant(config, first.refresh_token!),
      oidc.refreshTokenGrant(config, first.refresh_token!),
    ]);
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o) => o.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0]!.reason as { error?: string }).error).toBe('invalid_grant');

    // Either request may be the thief's: once reuse is seen, nothing issued from the grant keeps working.
    const winner = won[0]!.value;
    expect(await protocolError(oidc.refreshTokenGrant(config, winner.refresh_token!))).toMatchObject({
      error: 'invalid_grant',
    });
    expect((await oidc.tokenIntrospection(config, winner.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(config, first.access_token)).active).toBe(false);
  });

  it('refuses a refresh token presented by another client', async () => {
    await poort.addClient({ clientId: 'other', secret: 'other-secret-0123456789', redirectUris: [REDIRECT] });
    const other = await relyingParty(poort, 'other', 'other-secret-0123456789');
    const first = await signInAnna();
    expect(await protocolError(oidc.refreshTokenGrant(other, first.refresh_token!))).toMatchObject({
      error: 'invalid_grant',
    });
  });
});
