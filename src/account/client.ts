import crypto from 'node:crypto';
import {
  ClientError,
  ClientRepository,
  ownClientMetadata,
  type ClientInput,
  type ClientMetadata,
  type ClientRecord,
} from '../clients/clients.js';
import type { Secrets } from '../keys/keystore.js';

/** The account pages are an OIDC application of Poort itself, registered at start-up and never stored. */
export const ACCOUNT_CLIENT_ID = 'poort-account';

/**
 * A key for one purpose of the account pages, derived from Poort's secret material: every node that shares the
 * keys folder derives the same one, and none of them is stored.
 */
export function accountKey(secrets: Pick<Secrets, 'csrfKey'>, purpose: 'client-secret' | 'cookie'): Buffer {
  return ownClientKey(secrets, ACCOUNT_CLIENT_ID, purpose);
}

/** The same for any of Poort's own clients (the account pages, the administration console), by client id. */
export function ownClientKey(
  secrets: Pick<Secrets, 'csrfKey'>,
  clientId: string,
  purpose: 'client-secret' | 'cookie',
): Buffer {
  return crypto.createHmac('sha256', secrets.csrfKey).update(`${clientId}:${purpose}`).digest();
}

export function accountClientSecret(secrets: Pick<Secrets, 'csrfKey'>): string {
  return accountKey(secrets, 'client-secret').toString('base64url');
}

export function accountRedirectUri(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/account/callback`;
}

/** The account pages as a confidential, first-party client with PKCE: no consent page, and only Poort holds the secret. */
export function accountClient(issuer: string, secrets: Pick<Secrets, 'csrfKey'>): ClientMetadata {
  return ownClientMetadata(
    ACCOUNT_CLIENT_ID,
    'Account',
    accountClientSecret(secrets),
    accountRedirectUri(issuer),
  );
}

/**
 * The registered clients plus Poort's own (the account pages, the administration console, the SAML front-end): found first (no stored or declared
 * client can take their place), their ids reserved, and not listed among the organisation's applications.
 */
export class ClientsWithAccount extends ClientRepository {
  readonly #own: Map<string, ClientMetadata>;

  constructor(
    own: ClientMetadata | ClientMetadata[],
    ...rest: ConstructorParameters<typeof ClientRepository>
  ) {
    super(...rest);
    this.#own = new Map((Array.isArray(own) ? own : [own]).map((c) => [c.client_id, c]));
  }

  override async add(input: ClientInput): Promise<ClientRecord> {
    if (this.#own.has(input.clientId))
      throw new ClientError(
        'exists',
        `client ${input.clientId} is reserved for Poort itself (its account pages, administration console and SAML front-end)`,
      );
    return super.add(input);
  }

  override async metadata(clientId: string): Promise<ClientMetadata | undefined> {
    return this.#own.get(clientId) ?? super.metadata(clientId);
  }
}
