import { decodeJwt } from 'jose';
import { SAML_CLIENT_ID, samlRedirectUri } from './client.js';

export interface SignedIn {
  sub: string;
  acr: string | undefined;
  amr: string[];
  authTime: number;
}

/**
 * Exchanges the code at this node's own token endpoint (over its listener, as the account pages do) and reads who
 * signed in, how and when from the ID token. The token comes straight from Poort's token endpoint, so its claims are
 * checked but its signature need not be (OpenID Connect Core 3.1.3.7).
 */
export async function redeemCode(
  settings: { issuer: string; tokenEndpoint: string; clientSecret: string },
  code: string,
  expected: { nonce: string; verifier: string },
): Promise<SignedIn | { error: string }> {
  const basic = Buffer.from(
    `${encodeURIComponent(SAML_CLIENT_ID)}:${encodeURIComponent(settings.clientSecret)}`,
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
      redirect_uri: samlRedirectUri(settings.issuer),
      code_verifier: expected.verifier,
    }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json().catch(() => ({}))) as { id_token?: unknown; error?: unknown };
  if (!response.ok || typeof body.id_token !== 'string')
    return { error: typeof body.error === 'string' ? body.error : `http_${response.status}` };
  let claims: ReturnType<typeof decodeJwt>;
  try {
    claims = decodeJwt(body.id_token);
  } catch {
    return { error: 'invalid_id_token' };
  }
  const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (
    claims.iss !== settings.issuer ||
    !audience.includes(SAML_CLIENT_ID) ||
    claims.nonce !== expected.nonce ||
    typeof claims.exp !== 'number' ||
    claims.exp < Math.floor(Date.now() / 1000) ||
    typeof claims.sub !== 'string' ||
    typeof claims.auth_time !== 'number'
  )
    return { error: 'invalid_id_token' };
  return {
    sub: claims.sub,
    acr: typeof claims.acr === 'string' ? claims.acr : undefined,
    amr: Array.isArray(claims.amr) ? claims.amr.filter((v): v is string => typeof v === 'string') : [],
    authTime: claims.auth_time,
  };
}
