import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { Browser, readForm, type Page } from './browser.js';
import type { TestPoort } from './poort.js';

/** Cheap argon2 for tests that are not about argon2: the sign-in walks stay fast. */
export const FAST_ARGON2 = 'passwords: { argon2: { memory_kib: 8192, iterations: 1 } }\n';

/**
 * A relying party as an application would configure openid-client against Poort: discovery over http (the test
 * issuer), ID token signatures checked against the JWKS. Without a secret it is a public client (`none`).
 */
export async function relyingParty(
  poort: TestPoort,
  clientId: string,
  secret?: string,
): Promise<oidc.Configuration> {
  return oidc.discovery(
    new URL(poort.issuer),
    clientId,
    secret,
    secret === undefined ? oidc.None() : undefined,
    {
      execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks],
    },
  );
}

/** What the application keeps between sending the browser away and receiving it back. */
export interface PendingAuthorization {
  url: URL;
  redirectUri: string;
  verifier: string;
  state: string;
  nonce?: string;
}

export interface AuthorizationOptions {
  redirectUri: string;
  scope?: string;
  /** send a nonce (default true) */
  nonce?: boolean;
  /** push the request to /request first (PAR) */
  par?: boolean;
  /** more authorization parameters, e.g. prompt or login_hint */
  params?: Record<string, string>;
}

/** Builds an authorization request with PKCE (S256) and state, as openid-client does for an application. */
export async function startAuthorization(
  config: oidc.Configuration,
  options: AuthorizationOptions,
): Promise<PendingAuthorization> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = options.nonce === false ? undefined : oidc.randomNonce();
  const params: Record<string, string> = {
    redirect_uri: options.redirectUri,
    scope: options.scope ?? 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...(nonce ? { nonce } : {}),
    ...options.params,
  };
  const url = options.par
    ? await oidc.buildAuthorizationUrlWithPAR(config, params)
    : oidc.buildAuthorizationUrl(config, params);
  return { url, redirectUri: options.redirectUri, verifier, state, nonce };
}

/** Whether a page is Poort's password form. */
export function isPasswordForm(page: Page): boolean {
  return (
    page.status === 200 && /type="password"/.test(page.body) && /\/signin\/[^"/]+\/login"/.test(page.body)
  );
}

/** Whether a page is Poort's consent page. */
export function isConsentPage(page: Page): boolean {
  return page.status === 200 && /\/signin\/[^"/]+\/consent"/.test(page.body);
}

/** Presses Allow or Deny on the consent page; follows redirects up to the application's redirect URI. */
export async function answerConsent(
  browser: Browser,
  page: Page,
  decision: 'allow' | 'deny',
  stopAt: string,
): Promise<Page> {
  const form = readForm(page);
  return browser.navigate(form.action, { form: { ...form.fields, decision } }, stopAt);
}

/** Fills in and posts the password form on `page`; follows redirects up to the application's redirect URI. */
export async function submitPassword(
  browser: Browser,
  page: Page,
  username: string,
  password: string,
  stopAt: string,
): Promise<Page> {
  const form = readForm(page);
  return browser.navigate(form.action, { form: { ...form.fields, username, password } }, stopAt);
}

/**
 * Walks the browser through an authorization request: opens it and, when the password form is shown, signs in.
 * Returns the application's callback URL (status 0) or the page Poort stopped at.
 */
export async function authorizeInBrowser(
  browser: Browser,
  pending: PendingAuthorization,
  credentials?: { username: string; password: string },
): Promise<Page> {
  const first = await browser.navigate(pending.url.href, {}, pending.redirectUri);
  if (!credentials || !isPasswordForm(first)) return first;
  return submitPassword(browser, first, credentials.username, credentials.password, pending.redirectUri);
}

/** Whether `credentials` sign in (password alone) to the application at `redirectUri`, in a browser of its own (sending `headers`). */
export async function passwordSignsIn(
  config: oidc.Configuration,
  redirectUri: string,
  credentials: { username: string; password: string },
  headers: Record<string, string> = {},
): Promise<boolean> {
  const pending = await startAuthorization(config, { redirectUri });
  return (await authorizeInBrowser(new Browser(headers), pending, credentials)).status === 0;
}

/** The application's half of the callback: checks state (and nonce) and redeems the code with the PKCE verifier. */
export async function redeemCode(
  config: oidc.Configuration,
  callback: Page | string,
  pending: PendingAuthorization,
) {
  const url = typeof callback === 'string' ? callback : callback.url;
  return oidc.authorizationCodeGrant(config, new URL(url), {
    pkceCodeVerifier: pending.verifier,
    expectedState: pending.state,
    ...(pending.nonce ? { expectedNonce: pending.nonce } : {}),
    idTokenExpected: true,
  });
}

/** A complete sign-in: authorization request, password form, code redemption. */
export async function signIn(
  config: oidc.Configuration,
  browser: Browser,
  credentials: { username: string; password: string },
  options: AuthorizationOptions,
) {
  const pending = await startAuthorization(config, options);
  const callback = await authorizeInBrowser(browser, pending, credentials);
  if (callback.status !== 0)
    throw new Error(
      `sign-in did not reach ${options.redirectUri}: ${callback.status} ${callback.url}\n${callback.body.slice(0, 500)}`,
    );
  const tokens = await redeemCode(config, callback, pending);
  return { pending, callback, tokens };
}

/** The error an openid-client call failed with, as a protocol error (`error`, HTTP status) where it is one. */
export async function protocolError(
  promise: Promise<unknown>,
): Promise<{ error?: string; description?: string; status?: number; message: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { error?: string; error_description?: string; status?: number; message: string };
    return { error: e.error, description: e.error_description, status: e.status, message: e.message };
  }
  throw new Error('expected the request to fail');
}

/**
 * The user was signed out everywhere: `browser`, signed in before, is asked for the password again at `redirectUri`'s
 * application, and the tokens from before no longer work (refresh, userinfo, introspection).
 */
export async function expectSignedOut(
  config: oidc.Configuration,
  redirectUri: string,
  browser: Browser,
  before: oidc.TokenEndpointResponse,
  sub: string,
): Promise<void> {
  const sso = await startAuthorization(config, { redirectUri });
  const asked = await browser.navigate(sso.url.href, {}, redirectUri);
  expect(asked.status).toBe(200);
  expect(asked.body).toContain('autocomplete="current-password"');
  expect(await protocolError(oidc.refreshTokenGrant(config, before.refresh_token!))).toMatchObject({
    error: 'invalid_grant',
  });
  expect((await protocolError(oidc.fetchUserInfo(config, before.access_token, sub))).status).toBe(401);
  expect(await oidc.tokenIntrospection(config, before.access_token)).toMatchObject({ active: false });
}

/**
 * Signs the browser out of Poort (every application of its session) at a logout address (`/session/end`, with or
 * without an id_token_hint): the confirmation page, answered "yes". Returns where the browser ended.
 */
export async function signOutOfPoort(
  browser: Browser,
  endSessionUrl: string,
  stopAt?: string,
): Promise<Page> {
  const confirm = await browser.navigate(endSessionUrl);
  const form = readForm(confirm, 'op.logoutForm');
  return browser.navigate(form.action, { form: { ...form.fields, logout: 'yes' } }, stopAt);
}

const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const issuerKeys = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

/**
 * The logout token of a back-channel logout request an application received, checked as the application must
 * (OpenID Connect Back-Channel Logout 1.0 §2.6): signed by the issuer's published key, for this client, typed
 * `logout+jwt`, with the back-channel logout event, a `jti` and an `iat`, and no `nonce`.
 */
export async function verifiedLogoutToken(
  issuer: string,
  request: { body: string },
  clientId: string,
): Promise<JWTPayload> {
  const token = new URLSearchParams(request.body).get('logout_token');
  expect(token, 'the request carries a logout_token').toBeTruthy();
  let keys = issuerKeys.get(issuer);
  if (!keys) issuerKeys.set(issuer, (keys = createRemoteJWKSet(new URL(`${issuer}/jwks`))));
  const { payload } = await jwtVerify(token!, keys, { issuer, audience: clientId, typ: 'logout+jwt' });
  expect(payload.events).toHaveProperty([BACKCHANNEL_LOGOUT_EVENT]);
  expect(payload.jti).toBeTypeOf('string');
  expect(payload.iat).toBeTypeOf('number');
  expect(payload).not.toHaveProperty('nonce');
  return payload;
}
