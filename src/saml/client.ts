import crypto from 'node:crypto';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { toMetadata, type ClientMetadata } from '../clients/clients.js';
import type { Secrets } from '../keys/keystore.js';

/**
 * The SAML front-end signs users in through oidc-provider, as an application of Poort itself: one session, one set of
 * sign-in pages and policies for both protocols. Registered at start-up and never stored.
 */
export const SAML_CLIENT_ID = 'poort-saml';

/** The authorization parameters that carry the service provider into the sign-in, for the policy and the audit. */
export const SP_PARAM = 'poort_sp';
export const SP_MAC_PARAM = 'poort_sp_mac';

function samlKey(
  secrets: Pick<Secrets, 'csrfKey'>,
  purpose: 'client-secret' | 'sp-binding' | 'name-id',
): Buffer {
  return crypto.createHmac('sha256', secrets.csrfKey).update(`poort-saml:${purpose}`).digest();
}

export function samlClientSecret(secrets: Pick<Secrets, 'csrfKey'>): string {
  return samlKey(secrets, 'client-secret').toString('base64url');
}

export function samlRedirectUri(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/saml/callback`;
}

export function samlClient(issuer: string, secrets: Pick<Secrets, 'csrfKey'>): ClientMetadata {
  return toMetadata({
    clientId: SAML_CLIENT_ID,
    name: 'SAML',
    secret: samlClientSecret(secrets),
    redirectUris: [samlRedirectUri(issuer)],
    postLogoutRedirectUris: [],
    grantTypes: ['authorization_code'],
    firstParty: true,
    requirePkce: true,
  });
}

/** The key of pairwise persistent NameIDs: derived, so every node that shares the keys folder derives the same ids. */
export function nameIdKey(secrets: Pick<Secrets, 'csrfKey'>): Buffer {
  return samlKey(secrets, 'name-id');
}

/** Binds the service provider to one authorization request (its state), so the browser cannot swap in another. */
export class SpBinding {
  readonly #key: Buffer;

  constructor(secrets: Pick<Secrets, 'csrfKey'>) {
    this.#key = samlKey(secrets, 'sp-binding');
  }

  mac(state: string, entityId: string): string {
    return crypto
      .createHmac('sha256', this.#key)
      .update(`${state.length}:${state}|${entityId}`)
      .digest('base64url');
  }

  verify(state: unknown, entityId: unknown, mac: unknown): boolean {
    if (typeof state !== 'string' || typeof entityId !== 'string' || typeof mac !== 'string') return false;
    const expected = Buffer.from(this.mac(state, entityId));
    const given = Buffer.from(mac);
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  }

  /**
   * oidc-provider's check of the extra parameters, at the authorization endpoint: only Poort's SAML client names a
   * service provider, always with a valid binding. What passes here is kept with the interaction, so later steps
   * (policy, audit) can believe it.
   */
  extraParams() {
    const check = async (ctx: KoaContextWithOIDC) => {
      const params = ctx.oidc.params ?? {};
      const isSaml = ctx.oidc.client?.clientId === SAML_CLIENT_ID;
      const named = params[SP_PARAM] !== undefined || params[SP_MAC_PARAM] !== undefined;
      if (!isSaml && named)
        throw new errors.InvalidRequest(`${SP_PARAM} is reserved for Poort's SAML front-end`);
      if (isSaml && !this.verify(params.state, params[SP_PARAM], params[SP_MAC_PARAM]))
        throw new errors.InvalidRequest('the service provider of this request is not bound to it');
    };
    return { [SP_PARAM]: check, [SP_MAC_PARAM]: null };
  }
}

/** The application an authorization request is for: the SAML service provider behind Poort's SAML client, or the client. */
export function applicationOf(params: Record<string, unknown>): { id: string; protocol: 'oidc' | 'saml' } {
  const clientId = String(params.client_id);
  if (clientId === SAML_CLIENT_ID && typeof params[SP_PARAM] === 'string')
    return { id: params[SP_PARAM], protocol: 'saml' };
  return { id: clientId, protocol: 'oidc' };
}
