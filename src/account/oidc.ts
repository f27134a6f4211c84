import crypto from 'node:crypto';
import { decodeJwt } from 'jose';
import { ACCOUNT_CLIENT_ID, accountRedirectUri } from './client.js';
import type { AccountLogin } from './session.js';

/** How the account pages reach Poort's own token endpoint. */
export interface AccountOidcSettings {
  issuer: string;
  /** the token endpoint on this node's own listener: no DNS, proxy or TLS between Poort and itself */
  tokenEndpoint: string;
  clientSecret: string;
}

/** The token endpoint on the address this node listens on (a wildcard address is reached over loopback). */
export function loopbackTokenEndpoint(host: string, port: number): string {
  const address = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}/token`;
}

const random = () => crypto.randomBytes(32).toString('base64url');

/** A new authorization request; a step-up keeps the time the first round started, so its sign-in still counts. */
export function newLogin(returnTo: string, stepUpOf?: AccountLogin): AccountLogin {
  return {
    state: random(),
    nonce: random(),
    verifier: random(),
    startedAt: stepUpOf?.startedAt ?? Math.floor(Date.now() / 1000),
    returnTo,
    ...(stepUpOf ? { stepUp: true } : {}),
  };
}

/**
 * The authorization request: a fresh sign-in every time (prompt=login, max_age=0), so a session left open on a shared
 * computer does not open the account pages; PKCE and a nonce as for any confidential client.
 */
export function authorizationUrl(
  settings: Pick<AccountOidcSettings, 'issuer'>,
  login: AccountLogin,
  acr: { mfa: string },
): string {
  const params = new URLSearchParams({
    client_id: ACCOUNT_CLIENT_ID,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: accountRedirectUri(settings.issuer),
    state: login.state,
    nonce: login.nonce,
    code_challenge: crypto.createHash('sha256').update(login.verifier).digest('base64url'),
    code_challenge_method: 'S256',
    // The second round asks only for the second factor of the session the first round made (a step-up).
    ...(login.stepUp ? { acr_values: acr.mfa } : { prompt: 'login', max_age: '0' }),
  });
  return `/auth?${params.toString()}`;
}

export type Redeemed =
  { ok: true; sub: string; authTime: number; amr: string[] } | { ok: false; error: string };

/**
 * Exchanges the code at the token endpoint and reads who signed in, and when, from the ID token. The token comes
 * straight from Poort's own token endpoint over this node's listener, so its claims are checked but its signature
 * need not be (OpenID Connect Core 3.1.3.7: TLS-level trust in the token endpoint may stand in for it).
 */
export async function redeemCode(
  settings: AccountOidcSettings,
  code: string,
  login: AccountLogin,
): Promise<Redeemed> {
  const basic = Buffer.from(
    `${encodeURIComponent(ACCOUNT_CLIENT_ID)}:${encodeURIComponent(settings.clientSecret)}`,
  ).toString('base64');
  const response = await fetch(settings.tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${basic}`,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: accountRedirectUri(settings.issuer),
      code_verifier: login.verifier,
    }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json().catch(() => ({}))) as { id_token?: unknown; error?: unknown };
  if (!response.ok || typeof body.id_token !== 'string')
    return { ok: false, error: typeof body.error === 'string' ? body.error : `http_${response.status}` };
  let claims: ReturnType<typeof decodeJwt>;
  try {
    claims = decodeJwt(body.id_token);
  } catch {
    return { ok: false, error: 'invalid_id_token' };
  }
  const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  const now = Math.floor(Date.now() / 1000);
  if (
    typeof claims.iss !== 'string' ||
    claims.iss !== settings.issuer ||
    !audience.includes(ACCOUNT_CLIENT_ID) ||
    claims.nonce !== login.nonce ||
    typeof claims.exp !== 'number' ||
    claims.exp < now ||
    typeof claims.sub !== 'string'
  ) {
    return { ok: false, error: 'invalid_id_token' };
  }
  // max_age=0 asks for a sign-in made for this request: one older than the request is not fresh.
  const authTime = claims.auth_time;
  if (typeof authTime !== 'number' || authTime < login.startedAt) return { ok: false, error: 'not_fresh' };
  const amr = Array.isArray(claims.amr) ? claims.amr.filter((v): v is string => typeof v === 'string') : [];
  return { ok: true, sub: claims.sub, authTime, amr };
}
