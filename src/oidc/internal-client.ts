import { decodeJwt } from 'jose';

/** How one of Poort's own clients (account pages, SAML front-end) reaches Poort's token endpoint. */
export interface InternalClientSettings {
  issuer: string;
  /** the token endpoint on this node's own listener: no DNS, proxy or TLS between Poort and itself */
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

export type InternalSignIn =
  | {
      ok: true;
      sub: string;
      acr: string | undefined;
      amr: string[];
      authTime: number;
      /** the single sign-on session's id for this client */
      sid: string | undefined;
    }
  | { ok: false; error: string };

/**
 * Exchanges the code at the token endpoint and reads who signed in, how and when from the ID token. The token comes
 * straight from Poort's own token endpoint over this node's listener, so its claims are checked but its signature
 * need not be (OpenID Connect Core 3.1.3.7: TLS-level trust in the token endpoint may stand in for it).
 */
export async function redeemInternalCode(
  settings: InternalClientSettings,
  code: string,
  expected: { nonce: string; verifier: string },
): Promise<InternalSignIn> {
  const basic = Buffer.from(
    `${encodeURIComponent(settings.clientId)}:${encodeURIComponent(settings.clientSecret)}`,
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
      redirect_uri: settings.redirectUri,
      code_verifier: expected.verifier,
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
  if (
    claims.iss !== settings.issuer ||
    !audience.includes(settings.clientId) ||
    claims.nonce !== expected.nonce ||
    typeof claims.exp !== 'number' ||
    claims.exp < Math.floor(Date.now() / 1000) ||
    typeof claims.sub !== 'string' ||
    typeof claims.auth_time !== 'number'
  )
    return { ok: false, error: 'invalid_id_token' };
  return {
    ok: true,
    sub: claims.sub,
    acr: typeof claims.acr === 'string' ? claims.acr : undefined,
    amr: Array.isArray(claims.amr) ? claims.amr.filter((v): v is string => typeof v === 'string') : [],
    authTime: claims.auth_time,
    sid: typeof claims.sid === 'string' ? claims.sid : undefined,
  };
}
