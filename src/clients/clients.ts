import { changedFields } from '../audit/changes.js';
import { DurableCache } from '../store/durable-cache.js';
import type { Db } from '../store/database.js';
import { open, seal } from '../keys/secret-box.js';
import { isUniqueViolation } from '../store/unique.js';

export type GrantType = 'authorization_code' | 'refresh_token' | 'client_credentials';

export interface ClientInput {
  clientId: string;
  name?: string;
  /** undefined for a public client */
  secret?: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  grantTypes: GrantType[];
  firstParty: boolean;
  requirePkce: boolean;
  backchannelLogoutUri?: string;
}

export interface ClientRecord extends Omit<ClientInput, 'secret'> {
  public: boolean;
  /** ISO-8601: until when the secret before the last change still works, where it was kept (a rotation) */
  previousSecretUntil?: string;
  createdAt: string;
  source: 'store' | 'config';
}

/** oidc-provider client metadata, with Poort's own fields prefixed `poort_`. */
export type ClientMetadata = Record<string, unknown> & { client_id: string };

export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    readonly code: 'invalid_client_metadata' | 'exists' | 'not_found',
    message: string,
  ) {
    super(message);
  }
}

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

function isLoopback(uri: string): boolean {
  const url = URL.parse(uri);
  return url?.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

/** Checks the parts oidc-provider would otherwise refuse only when the client is first used. */
export function validateClientInput(input: ClientInput): void {
  const fail = (message: string) => {
    throw new ClientError('invalid_client_metadata', message);
  };
  if (!CLIENT_ID.test(input.clientId))
    fail(`"${input.clientId}" is not a valid client id (letters, digits, . _ : -)`);
  if (input.grantTypes.length === 0) fail('at least one grant type is needed');
  if (input.grantTypes.includes('refresh_token') && !input.grantTypes.includes('authorization_code')) {
    fail('refresh_token needs authorization_code');
  }
  if (input.secret === undefined && input.grantTypes.includes('client_credentials'))
    fail('a public client cannot use client_credentials');
  if (input.secret !== undefined && input.secret.length < 16)
    fail('the client secret needs at least 16 characters');
  if (input.grantTypes.includes('authorization_code') && input.redirectUris.length === 0) {
    fail('authorization_code needs at least one --redirect-uri');
  }
  for (const uri of [
    ...input.redirectUris,
    ...input.postLogoutRedirectUris,
    ...(input.backchannelLogoutUri ? [input.backchannelLogoutUri] : []),
  ]) {
    const url = URL.parse(uri);
    if (!url || !/^https?:$/.test(url.protocol)) fail(`${uri} is not an http(s) URL`);
    if (url!.hash) fail(`${uri} must not have a fragment`);
    if (url!.protocol === 'http:' && !isLoopback(uri) && input.secret === undefined) {
      fail(`${uri}: a public client may use http only on a loopback address (127.0.0.1, [::1], localhost)`);
    }
  }
}

/** What `poort client update` changes; absent fields stay as they are. */
export interface ClientChange {
  /** null removes the name */
  name?: string | null;
  addRedirectUris?: string[];
  removeRedirectUris?: string[];
  addPostLogoutRedirectUris?: string[];
  removePostLogoutRedirectUris?: string[];
  grantTypes?: GrantType[];
  /** null removes it */
  backchannelLogoutUri?: string | null;
  firstParty?: boolean;
  requirePkce?: boolean;
  /** a new secret (confidential clients only); it replaces the old one at once, unless keepPreviousSecretFor */
  secret?: string;
  /** seconds the old secret goes on working beside the new one, so that every instance of the application can move */
  keepPreviousSecretFor?: number;
}

/** The longest an old secret may go on working beside a new one. */
export const MAX_PREVIOUS_SECRET_SECONDS = 30 * 86400;

/** Epoch seconds until which a client's previous secret works, where it has one still working. */
function previousSecretExpiry(m: ClientMetadata, now = Date.now()): number | undefined {
  const until = m.poort_previous_secret_expires_at;
  return typeof m.poort_previous_secret === 'string' && typeof until === 'number' && until * 1000 > now
    ? until
    : undefined;
}

/** A secret's stand-in where only its presence matters (validation): as long as the shortest allowed. */
export const SECRET_PLACEHOLDER = 'x'.repeat(16);

/** URIs added, then URIs removed: removing one that is not there is refused (a typo would otherwise pass). */
function edited(current: string[], add: string[] = [], remove: string[] = [], what: string): string[] {
  const absent = remove.filter((uri) => !current.includes(uri) && !add.includes(uri));
  if (absent.length > 0)
    throw new ClientError('invalid_client_metadata', `${absent.join(', ')} is not a registered ${what}`);
  const next = [...current, ...add.filter((uri, i) => !current.includes(uri) && add.indexOf(uri) === i)];
  return next.filter((uri) => !remove.includes(uri));
}

/**
 * A stored client with `change` applied, as input for validation and storage. The secret is the new one, or
 * SECRET_PLACEHOLDER for a confidential client that keeps its own. A public client cannot get a secret (nor the
 * other way round): the application changes kind, so it is registered anew.
 */
export function applyClientChange(client: ClientRecord, change: ClientChange): ClientInput {
  if (change.secret !== undefined && client.public) {
    throw new ClientError(
      'invalid_client_metadata',
      `${client.clientId} is a public client and has no secret; remove it and add it again as a confidential client`,
    );
  }
  const name = change.name === undefined ? client.name : (change.name ?? undefined);
  const backchannel =
    change.backchannelLogoutUri === undefined
      ? client.backchannelLogoutUri
      : (change.backchannelLogoutUri ?? undefined);
  return {
    clientId: client.clientId,
    ...(name ? { name } : {}),
    ...(client.public ? {} : { secret: change.secret ?? SECRET_PLACEHOLDER }),
    redirectUris: edited(
      client.redirectUris,
      change.addRedirectUris,
      change.removeRedirectUris,
      'redirect URI',
    ),
    postLogoutRedirectUris: edited(
      client.postLogoutRedirectUris,
      change.addPostLogoutRedirectUris,
      change.removePostLogoutRedirectUris,
      'post-logout redirect URI',
    ),
    grantTypes: change.grantTypes ?? client.grantTypes,
    firstParty: change.firstParty ?? client.firstParty,
    requirePkce: change.requirePkce ?? client.requirePkce,
    ...(backchannel ? { backchannelLogoutUri: backchannel } : {}),
  };
}

/**
 * What differs between two versions of a client, by metadata name, for the audit trail and the CLI: lists as the
 * entries added and removed, other fields as their new value (null: removed). Never the secret: `secret` is only
 * noted as changed.
 */
export function clientChanges(
  before: ClientRecord,
  after: ClientRecord,
  secretChanged = false,
): Record<string, unknown> {
  const changes = changedFields(
    [
      ['redirect_uris', before.redirectUris, after.redirectUris],
      ['post_logout_redirect_uris', before.postLogoutRedirectUris, after.postLogoutRedirectUris],
      ['grant_types', before.grantTypes, after.grantTypes],
    ],
    [
      ['client_name', before.name, after.name],
      ['backchannel_logout_uri', before.backchannelLogoutUri, after.backchannelLogoutUri],
      ['first_party', before.firstParty, after.firstParty],
      ['require_pkce', before.requirePkce, after.requirePkce],
    ],
  );
  if (secretChanged) changes.secret = 'replaced';
  return changes;
}

/**
 * One of Poort's own clients (the account pages, the administration console, the SAML front-end): confidential,
 * first-party (no consent page), PKCE, the authorization code grant only, one redirect URI on Poort itself.
 */
export function ownClientMetadata(
  clientId: string,
  name: string,
  secret: string,
  redirectUri: string,
): ClientMetadata {
  return toMetadata({
    clientId,
    name,
    secret,
    redirectUris: [redirectUri],
    postLogoutRedirectUris: [],
    grantTypes: ['authorization_code'],
    firstParty: true,
    requirePkce: true,
  });
}

/** Turns Poort's view of a client into oidc-provider metadata. The secret is passed in plaintext here. */
export function toMetadata(input: ClientInput): ClientMetadata {
  const isPublic = input.secret === undefined;
  // A public client whose redirect URIs are all loopback is a native app: RFC 8252 lets it use any port.
  const native = isPublic && input.redirectUris.length > 0 && input.redirectUris.every(isLoopback);
  return {
    client_id: input.clientId,
    ...(input.name ? { client_name: input.name } : {}),
    ...(isPublic
      ? { token_endpoint_auth_method: 'none' }
      : { client_secret: input.secret, token_endpoint_auth_method: 'client_secret_basic' }),
    application_type: native ? 'native' : 'web',
    redirect_uris: input.redirectUris,
    post_logout_redirect_uris: input.postLogoutRedirectUris,
    grant_types: input.grantTypes,
    response_types: input.grantTypes.includes('authorization_code') ? ['code'] : [],
    ...(input.backchannelLogoutUri
      ? { backchannel_logout_uri: input.backchannelLogoutUri, backchannel_logout_session_required: true }
      : {}),
    poort_first_party: input.firstParty,
    poort_require_pkce: input.requirePkce,
  };
}

function toRecord(m: ClientMetadata, createdAt: string, source: ClientRecord['source']): ClientRecord {
  const previousUntil = previousSecretExpiry(m);
  return {
    clientId: m.client_id,
    name: m.client_name as string | undefined,
    public: m.token_endpoint_auth_method === 'none',
    redirectUris: (m.redirect_uris as string[]) ?? [],
    postLogoutRedirectUris: (m.post_logout_redirect_uris as string[]) ?? [],
    grantTypes: (m.grant_types as GrantType[]) ?? [],
    firstParty: m.poort_first_party === true,
    requirePkce: m.poort_require_pkce === true,
    backchannelLogoutUri: m.backchannel_logout_uri as string | undefined,
    ...(previousUntil ? { previousSecretUntil: new Date(previousUntil * 1000).toISOString() } : {}),
    createdAt,
    source,
  };
}

/**
 * Registered OIDC clients. Secrets are sealed (AES-256-GCM) with Poort's secret material, because
 * the token endpoint must compare them as presented; a stolen database alone does not reveal them.
 */
export class ClientRepository {
  readonly #static = new Map<string, ClientMetadata>();
  /** opened metadata by client id (undefined: known not to exist), valid while the store's change counter holds */
  readonly #cache: DurableCache<ClientMetadata>;

  /**
   * `changes` returns a number that moves whenever another process (the CLI) changed the store: lookups are served
   * from memory until it moves, so a client added or removed with the CLI still takes effect at the next request.
   */
  constructor(
    private readonly db: Db,
    private readonly encryptionKey: Buffer,
    staticClients: ClientMetadata[] = [],
    changes: () => number = () => Number.NaN,
  ) {
    this.#cache = new DurableCache(changes);
    for (const c of staticClients) this.#static.set(c.client_id, c);
  }

  async add(input: ClientInput): Promise<ClientRecord> {
    validateClientInput(input);
    this.#cache.changed();
    if (this.#static.has(input.clientId))
      throw new ClientError('exists', `client ${input.clientId} is declared in the configuration`);
    const metadata = toMetadata(input);
    if (typeof metadata.client_secret === 'string') {
      metadata.client_secret = seal(this.encryptionKey, metadata.client_secret, `client:${input.clientId}`);
    }
    const now = new Date().toISOString();
    try {
      await this.db
        .insertInto('clients')
        .values({
          client_id: input.clientId,
          metadata: JSON.stringify(metadata),
          first_party: input.firstParty ? 1 : 0,
          created_at: now,
          updated_at: now,
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new ClientError('exists', `client ${input.clientId} already exists`);
      throw err;
    }
    return toRecord(metadata, now, 'store');
  }

  /**
   * Changes a client registered in the store (a client declared in the configuration is not there). Validated as a new client
   * would be; a new secret replaces the old one at once (or after `keepPreviousSecretFor`: the old one, still
   * sealed, goes on working beside it until then), else the sealed secrets stay as they are. Tokens already issued
   * to the client keep working.
   */
  async update(
    clientId: string,
    change: ClientChange,
  ): Promise<{ before: ClientRecord; after: ClientRecord }> {
    this.#cache.changed();
    const row = await this.db
      .selectFrom('clients')
      .select(['metadata', 'created_at'])
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    if (!row) throw new ClientError('not_found', `no client ${clientId}`);
    const stored = JSON.parse(row.metadata) as ClientMetadata;
    const before = toRecord(stored, row.created_at, 'store');
    const input = applyClientChange(before, change);
    validateClientInput(input);
    const metadata = toMetadata(input);
    if (change.keepPreviousSecretFor !== undefined) {
      const keep = change.keepPreviousSecretFor;
      if (change.secret === undefined)
        throw new ClientError('invalid_client_metadata', 'only a new secret lets the old one go on working');
      if (!Number.isInteger(keep) || keep <= 0 || keep > MAX_PREVIOUS_SECRET_SECONDS)
        throw new ClientError(
          'invalid_client_metadata',
          'the old secret may go on working for at most 30 days',
        );
    }
    if (!before.public) {
      const previous = {
        poort_previous_secret: stored.poort_previous_secret,
        poort_previous_secret_expires_at: stored.poort_previous_secret_expires_at,
      };
      if (change.secret === undefined) {
        metadata.client_secret = stored.client_secret;
        if (previousSecretExpiry(stored)) Object.assign(metadata, previous);
      } else {
        metadata.client_secret = seal(this.encryptionKey, change.secret, `client:${clientId}`);
        if (change.keepPreviousSecretFor) {
          metadata.poort_previous_secret = stored.client_secret;
          metadata.poort_previous_secret_expires_at =
            Math.floor(Date.now() / 1000) + change.keepPreviousSecretFor;
        }
      }
    }
    const after = toRecord(metadata, row.created_at, 'store');
    if (Object.keys(clientChanges(before, after, change.secret !== undefined)).length === 0)
      return { before, after };
    await this.db
      .updateTable('clients')
      .set({
        metadata: JSON.stringify(metadata),
        first_party: input.firstParty ? 1 : 0,
        updated_at: new Date().toISOString(),
      })
      .where('client_id', '=', clientId)
      .execute();
    return { before, after };
  }

  async remove(clientId: string): Promise<void> {
    this.#cache.changed();
    const result = await this.db.deleteFrom('clients').where('client_id', '=', clientId).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) {
      throw new ClientError(
        'not_found',
        this.#static.has(clientId)
          ? `client ${clientId} is declared in the configuration; remove it there`
          : `no client ${clientId}`,
      );
    }
  }

  /** The metadata oidc-provider needs, secret opened; undefined for an unknown client. */
  async metadata(clientId: string): Promise<ClientMetadata | undefined> {
    const fromConfig = this.#static.get(clientId);
    if (fromConfig) return fromConfig;
    return this.#cache.get(clientId, (id) => this.load(id));
  }

  private async load(clientId: string): Promise<ClientMetadata | undefined> {
    // No client id holds a NUL character, and PostgreSQL refuses one in a query parameter with an error.
    if (clientId.includes('\0')) return undefined;
    const row = await this.db
      .selectFrom('clients')
      .select('metadata')
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    if (!row) return undefined;
    const metadata = JSON.parse(row.metadata) as ClientMetadata;
    if (typeof metadata.client_secret === 'string') {
      metadata.client_secret = open(this.encryptionKey, metadata.client_secret, `client:${clientId}`);
    }
    // oidc-provider checks the expiry again at each use (src/oidc/previous-secret.ts): this copy may be cached
    if (previousSecretExpiry(metadata)) {
      metadata.poort_previous_secret = open(
        this.encryptionKey,
        metadata.poort_previous_secret as string,
        `client:${clientId}`,
      );
    } else {
      delete metadata.poort_previous_secret;
      delete metadata.poort_previous_secret_expires_at;
    }
    return metadata;
  }

  async list(): Promise<ClientRecord[]> {
    const rows = await this.db.selectFrom('clients').selectAll().orderBy('client_id').execute();
    const stored = rows.map((r) => toRecord(JSON.parse(r.metadata) as ClientMetadata, r.created_at, 'store'));
    const declared = [...this.#static.values()].map((m) => toRecord(m, '', 'config'));
    return [...declared, ...stored].sort((a, b) => a.clientId.localeCompare(b.clientId));
  }

  async find(clientId: string): Promise<ClientRecord | undefined> {
    return (await this.list()).find((c) => c.clientId === clientId);
  }
}
