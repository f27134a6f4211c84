import crypto from 'node:crypto';
import { ownClientMetadata, type ClientMetadata } from '../clients/clients.js';
import type { Secrets } from '../keys/keystore.js';
import { requirementForAcr, stricter, type AcrValues, type Requirement } from '../mfa/strength.js';

/**
 * The SAML front-end signs users in through oidc-provider, as an application of Poort itself: one session, one set of
 * sign-in pages and policies for both protocols. Registered at start-up and never stored.
 */
export const SAML_CLIENT_ID = 'poort-saml';

/** The authorization parameters that carry the service provider into the sign-in, for the policy and the audit. */
export const SP_PARAM = 'poort_sp';
export const SP_MAC_PARAM = 'poort_sp_mac';
/**
 * The second factor the service provider asked for (its RequestedAuthnContext), where acr_values cannot say it:
 * TOTP (SAML's TimeSyncToken) has no acr of its own. The SAML callback checks the result against its own record of
 * the request, so a browser that drops or changes this parameter only gets NoAuthnContext.
 */
export const SP_REQUIREMENT_PARAM = 'poort_sp_requirement';

const REQUIREMENTS: readonly Requirement[] = ['none', 'any', 'totp', 'phishing_resistant'];

export function isRequirement(value: unknown): value is Requirement {
  return REQUIREMENTS.includes(value as Requirement);
}

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
  return ownClientMetadata(SAML_CLIENT_ID, 'SAML', samlClientSecret(secrets), samlRedirectUri(issuer));
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
}

/** The application an authorization request is for: the SAML service provider behind Poort's SAML client, or the client. */
export function applicationOf(params: Record<string, unknown>): { id: string; protocol: 'oidc' | 'saml' } {
  const clientId = String(params.client_id);
  if (clientId === SAML_CLIENT_ID && typeof params[SP_PARAM] === 'string')
    return { id: params[SP_PARAM], protocol: 'saml' };
  return { id: clientId, protocol: 'oidc' };
}

/**
 * What an authorization request asks of the second factor: its acr_values, and for Poort's SAML client also what the
 * service provider asked for.
 */
export function requestedRequirement(params: Record<string, unknown>, acr: AcrValues): Requirement {
  const fromAcr = requirementForAcr(
    typeof params.acr_values === 'string' ? params.acr_values.split(' ') : [],
    acr,
  );
  const fromSp = params[SP_REQUIREMENT_PARAM];
  return String(params.client_id) === SAML_CLIENT_ID && isRequirement(fromSp)
    ? stricter(fromAcr, fromSp)
    : fromAcr;
}
