import { decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, readForm } from '../helpers/browser.js';
import {
  FAST_ARGON2,
  isPasswordForm,
  redeemCode,
  relyingParty,
  signIn,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };
const REDIRECT = 'http://127.0.0.1:7777/cb';
const SECRET = 'app-secret-0123456789';

describe('authorization code flow with PKCE', () => {
  let poort: TestPoort;
  let annaId: string;
  let config: oidc.Configuration;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    annaId = await poort.addUser({
      username: 'anna',
      password: PASSWORD,
      name: 'Anna de Vries',
      email: 'anna@example.org',
      groups: ['staff', 'finance'],
    });
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    config = await relyingParty(poort, 'app', SECRET);
  });
  afterAll(async () => poort?.stop());

  it('shows the password form, then redirects back with a code that redeems for a verified ID token', async () => {
    const pending = await startAuthorization(config, {
      redirectUri: REDIRECT,
      scope: 'openid profile email groups',
    });
    const browser = new Browser();
    const login = await browser.navigate(pending.url.href);
    expect(isPasswordForm(login)).toBe(true);

    const before = Math.floor(Date.now() / 1000);
    const form = readForm(login);
    const callback = await browser.navigate(
      form.action,
      { form: { ...form.fields, username: 'anna', password: PASSWORD } },
      REDIRECT,
    );
    expect(callback.status).toBe(0);
    const callbackParams = new URL(callback.url).searchParams;
    expect(callbackParams.get('code')).toBeTruthy();
    expect(callbackParams.get('state')).toBe(pending.state);
    expect(callbackParams.get('iss')).toBe(poort.issuer);

    // openid-client checks the signature against /jwks, iss, aud, exp and the nonce; it throws on any mismatch.
    const tokens = await redeemCode(config, callback, pending);
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(poort.issuer);
    expect(claims.aud).toBe('app');
    expect(claims.nonce).toBe(pending.nonce);
    expect(claims).toMatchObject({
      sub: annaId,
      name: 'Anna de Vries',
      email: 'anna@example.org',
      email_verified: true,
      preferred_username: 'anna',
      acr: 'urn:poort:acr:password',
      amr: ['pwd'],
    });
    expect([...(claims.groups as string[])].sort()).toEqual(['finance', 'staff']);
    expect(claims.auth_time).toBeGreaterThanOrEqual(before);
    expect(claims.auth_time).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(typeof claims.sid).toBe('string');
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();
  });

  it('signs ID tokens with the RS256 key published at /jwks', async () => {
    const { tokens } = await signIn(config, new Browser(), ANNA, { redirectUri: REDIRECT });
    const header = decodeProtectedHeader(tokens.id_token!);
    expect(header.alg).toBe('RS256');
    const jwks = (await (await fetch(`${poort.issuer}/jwks`)).json()) as {
      keys: Array<{ kid: string; d?: unknown }>;
    };
    expect(jwks.keys.map((k) => k.kid)).toContain(header.kid);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  });

  it('gives openid-client an ID token whose signature it checks: a tampered signature is refused', async () => {
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    const browser = new Browser();
    const login = await browser.navigate(pending.url.href);
    const form = readForm(login);
    const callback = await browser.navigate(
      form.action,
      { form: { ...form.fields, username: 'anna', password: PASSWORD } },
      REDIRECT,
    );

    // A relying party behind a tampering network path: the token response arrives with the signature altered.
    const tampering = await relyingParty(poort, 'app', SECRET);
    tampering[oidc.customFetch] = async (url, options) => {
      const response = await fetch(url, options as RequestInit);
      if (!url.endsWith('/token')) return response;
      const body = (await response.json()) as { id_token: string };
      const [header, payload, signature] = body.id_token.split('.') as [string, string, string];
      const flipped = Buffer.from(signature, 'base64url');
      flipped[0]! ^= 0xff;
      body.id_token = `${header}.${payload}.${flipped.toString('base64url')}`;
      return new Response(JSON.stringify(body), { status: response.status, headers: response.headers });
    };
    const error = await redeemCode(tampering, callback, pending).then(
      () => undefined,
      (err: unknown) => err as Error & { cause?: Error },
    );
    expect(error?.cause?.message).toMatch(/signature verification failed/);
  });

  it('omits the nonce from the ID token when the application sent none', async () => {
    const { tokens } = await signIn(config, new Browser(), ANNA, { redirectUri: REDIRECT, nonce: false });
    expect(tokens.claims()!.nonce).toBeUndefined();
  });

  it('releases in the ID token only the claims of the requested scopes', async () => {
    const { tokens } = await signIn(config, new Browser(), ANNA, { redirectUri: REDIRECT, scope: 'openid' });
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(annaId);
    expect(claims.acr).toBe('urn:poort:acr:password');
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.auth_time).toBeTypeOf('number');
    expect(claims.sid).toBeTypeOf('string');
    for (const claim of ['name', 'preferred_username', 'email', 'email_verified', 'groups'])
      expect(claims).not.toHaveProperty(claim);
  });

  it('answers userinfo with the claims of the granted scopes only', async () => {
    const { tokens } = await signIn(config, new Browser(), ANNA, {
      redirectUri: REDIRECT,
      scope: 'openid profile groups',
    });
    const info = await oidc.fetchUserInfo(config, tokens.access_token, annaId);
    expect(info).toMatchObject({ sub: annaId, name: 'Anna de Vries', preferred_username: 'anna' });
    expect([...(info.groups as string[])].sort()).toEqual(['finance', 'staff']);
    expect(info).not.toHaveProperty('email');
    expect(info).not.toHaveProperty('email_verified');

    const withEmail = await signIn(config, new Browser(), ANNA, {
      redirectUri: REDIRECT,
      scope: 'openid email',
    });
    const emailInfo = await oidc.fetchUserInfo(config, withEmail.tokens.access_token, annaId);
    expect(emailInfo).toMatchObject({ sub: annaId, email: 'anna@example.org', email_verified: true });
    expect(emailInfo).not.toHaveProperty('name');
    expect(emailInfo).not.toHaveProperty('groups');
  });

  it('accepts a code only once', async () => {
    const { pending, callback } = await signIn(config, new Browser(), ANNA, { redirectUri: REDIRECT });
    await expect(redeemCode(config, callback, pending)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a code redeemed with the wrong PKCE verifier', async () => {
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    const browser = new Browser();
    const login = await browser.navigate(pending.url.href);
    const form = readForm(login);
    const callback = await browser.navigate(
      form.action,
      { form: { ...form.fields, username: 'anna', password: PASSWORD } },
      REDIRECT,
    );
    await expect(
      redeemCode(config, callback, { ...pending, verifier: oidc.randomPKCECodeVerifier() }),
    ).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });
});
