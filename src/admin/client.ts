import crypto from 'node:crypto';
import { ownClientKey } from '../account/client.js';
import type { AccountLogin } from '../account/session.js';
import { ownClientMetadata, type ClientMetadata } from '../clients/clients.js';
import type { Secrets } from '../keys/keystore.js';
import type { AcrValues } from '../mfa/strength.js';
import type { AdminConfig } from './config.js';

/** The administration console is an OIDC application of Poort itself, registered at start-up and never stored. */
export const ADMIN_CLIENT_ID = 'poort-admin';

export const adminKey = (secrets: Pick<Secrets, 'csrfKey'>, purpose: 'client-secret' | 'cookie') =>
  ownClientKey(secrets, ADMIN_CLIENT_ID, purpose);

export function adminClientSecret(secrets: Pick<Secrets, 'csrfKey'>): string {
  return adminKey(secrets, 'client-secret').toString('base64url');
}

export function adminRedirectUri(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/admin/callback`;
}

/** A confidential, first-party client with PKCE: no consent page, and only Poort holds the secret. */
export function adminClient(issuer: string, secrets: Pick<Secrets, 'csrfKey'>): ClientMetadata {
  return ownClientMetadata(
    ADMIN_CLIENT_ID,
    'Administration',
    adminClientSecret(secrets),
    adminRedirectUri(issuer),
  );
}

/** The acr the console asks for: any second factor, or a phishing-resistant one. */
export function requiredAcr(require: AdminConfig['require'], acr: AcrValues): string {
  return require === 'phishing_resistant' ? acr.phishing_resistant : acr.mfa;
}

/**
 * The authorization request: a fresh sign-in every time (prompt=login, max_age=0) with the second factor the console
 * demands (acr_values), PKCE and a nonce.
 */
export function adminAuthorizationUrl(issuer: string, login: AccountLogin, acr: string): string {
  const params = new URLSearchParams({
    client_id: ADMIN_CLIENT_ID,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: adminRedirectUri(issuer),
    state: login.state,
    nonce: login.nonce,
    code_challenge: crypto.createHash('sha256').update(login.verifier).digest('base64url'),
    code_challenge_method: 'S256',
    prompt: 'login',
    max_age: '0',
    acr_values: acr,
  });
  return `/auth?${params.toString()}`;
}
