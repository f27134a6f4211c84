import crypto from 'node:crypto';
import { redeemInternalCode } from '../oidc/internal-client.js';
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
  | { ok: true; sub: string; authTime: number; amr: string[]; sid: string | undefined }
  | { ok: false; error: string };

/** Redeems the code as the account pages' client; a sign-in older than this request is not fresh (max_age=0). */
export async function redeemCode(
  settings: AccountOidcSettings,
  code: string,
  login: AccountLogin,
): Promise<Redeemed> {
  const signedIn = await redeemInternalCode(
    {
      ...settings,
      clientId: ACCOUNT_CLIENT_ID,
      redirectUri: accountRedirectUri(settings.issuer),
    },
    code,
    login,
  );
  if (!signedIn.ok) return signedIn;
  if (signedIn.authTime < login.startedAt) return { ok: false, error: 'not_fresh' };
  return { ok: true, sub: signedIn.sub, authTime: signedIn.authTime, amr: signedIn.amr, sid: signedIn.sid };
}
