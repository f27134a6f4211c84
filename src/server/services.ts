import fs from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import {
  ClientRepository,
  toMetadata,
  validateClientInput,
  ClientError,
  type ClientMetadata,
} from '../clients/clients.js';
import { accountClient, ClientsWithAccount } from '../account/client.js';
import { adminClient } from '../admin/client.js';
import { GroupRepository } from '../directory/groups.js';
import type { Directory } from '../directory/identity.js';
import { LocalDirectory } from '../directory/local.js';
import { ldapServices, type LdapServices } from '../directory/ldap/services.js';
import { DirectoryRouter } from '../directory/router.js';
import { UpstreamDirectory } from '../directory/upstream/directory.js';
import { createLogger, type Logger } from '../log/logger.js';
import { PasswordHasher } from '../directory/password-hash.js';
import { UserRepository } from '../directory/users.js';
import { KeyStore, type Secrets } from '../keys/keystore.js';
import { openDurableSqlite, sqliteChangeCounter, type Db } from '../store/database.js';
import type { AuditLog } from '../audit/log.js';
import { SqliteAuditLog } from '../audit/sqlite-log.js';
import { FactorRepository } from '../mfa/factors.js';
import type { KeyValueStore } from '../store/kv.js';
import { LazyKeyValueStore } from '../store/kv-lazy.js';
import { SqliteKeyValueStore } from '../store/kv-sqlite.js';
import { RedisKeyValueStore } from '../store/kv-redis.js';
import { SamlCertificates } from '../keys/saml-certificates.js';
import { samlClient } from '../saml/client.js';
import {
  declaredServiceProviders,
  ServiceProviderError,
  ServiceProviderRegistry,
} from '../saml/service-providers.js';

/** What the server and the CLI share: the same configuration, store and keys. */
export interface Services {
  config: Config;
  configFile: string;
  db: Db;
  kv: KeyValueStore;
  keys: KeyStore;
  secrets: Secrets;
  users: UserRepository;
  groups: GroupRepository;
  clients: ClientRepository;
  audit: AuditLog;
  /** moves whenever another process commits to the durable store: caches of durable data check it */
  durableChanges: () => number;
  factors: FactorRepository;
  /** SAML signing certificates, in the keys folder beside the JWKS keys */
  samlCertificates: SamlCertificates;
  serviceProviders: ServiceProviderRegistry;
  hasher: PasswordHasher;
  directory: Directory;
  /** the LDAP server or Active Directory, where one is configured and enabled */
  ldap?: LdapServices;
  /** upstream OpenID providers, where any are configured */
  upstream?: UpstreamDirectory;
  close(): Promise<void>;
}

function staticClients(config: Config, file: string): ClientMetadata[] {
  return config.oidc.clients.map((c, i) => {
    const input = {
      clientId: c.client_id,
      name: c.client_name,
      secret: c.public ? undefined : c.client_secret,
      redirectUris: c.redirect_uris,
      postLogoutRedirectUris: c.post_logout_redirect_uris,
      grantTypes: c.grant_types,
      firstParty: c.first_party,
      requirePkce: c.require_pkce,
      backchannelLogoutUri: c.backchannel_logout_uri,
    };
    try {
      validateClientInput(input);
    } catch (err) {
      if (err instanceof ClientError) throw new ConfigError(`${file}: oidc.clients[${i}]: ${err.message}`);
      throw err;
    }
    return toMetadata(input);
  });
}

/** The durable store the configuration chooses, with its audit trail and change counter. */
async function openDurable(
  config: Config,
  file: string,
  keys: KeyStore,
): Promise<{ db: Db; audit: AuditLog; changes: () => number }> {
  if (config.storage.durable === 'postgres') {
    const url = config.storage.database_url;
    if (!url)
      throw new ConfigError(
        `${file}: storage.database_url (or POORT_DATABASE_URL) is required for durable: postgres`,
      );
    // loaded only when used: the embedded default (and every CLI command on it) does not pay for the pg driver
    const { openDurablePostgres, timeBucketCounter } = await import('../store/postgres.js');
    const { PostgresAuditLog } = await import('../audit/pg-log.js');
    const pool = config.storage.postgres;
    const db = await openDurablePostgres(url, {
      max: pool.pool_max,
      idleTimeoutMillis: pool.idle_timeout * 1000,
      connectionTimeoutMillis: pool.connect_timeout * 1000,
      statementTimeoutMillis: pool.statement_timeout * 1000,
    });
    // no cheap commit counter across nodes: caches of durable data read again at most a second later
    return { db, audit: new PostgresAuditLog(db, keys), changes: timeBucketCounter(1000) };
  }
  const { db, sqlite } = await openDurableSqlite(config.storage.data_dir);
  return { db, audit: new SqliteAuditLog(db, sqlite, keys), changes: sqliteChangeCounter(sqlite) };
}

/** The ephemeral store the configuration chooses: the embedded SQLite file, or Redis shared by every node. */
async function openEphemeral(config: Config, file: string): Promise<KeyValueStore> {
  if (config.storage.ephemeral === 'redis') {
    const url = config.storage.redis_url;
    if (!url)
      throw new ConfigError(
        `${file}: storage.redis_url (or POORT_REDIS_URL) is required for ephemeral: redis`,
      );
    const caFile = config.storage.redis.tls_ca_file;
    let ca: string | undefined;
    if (caFile) {
      if (!url.startsWith('rediss:'))
        throw new ConfigError(`${file}: storage.redis.tls_ca_file: needs a rediss:// storage.redis_url`);
      try {
        ca = fs.readFileSync(path.resolve(path.dirname(file), caFile), 'utf8');
      } catch (err) {
        throw new ConfigError(
          `${file}: storage.redis.tls_ca_file: cannot read ${caFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        );
      }
    }
    return RedisKeyValueStore.connect(url, {
      ca,
      prefix: config.storage.redis_prefix,
      connectTimeoutMs: config.storage.redis.connect_timeout * 1000,
      reconnectMaxDelayMs: config.storage.redis.reconnect_max_delay * 1000,
    });
  }
  return SqliteKeyValueStore.inDataDir(config.storage.data_dir);
}

export interface OpenOptions {
  /**
   * Open the ephemeral store at its first use, not now (the CLI): commands on durable data then work while Redis is
   * unreachable, and a command that needs it fails with the same clear error as before.
   */
  lazyEphemeral?: boolean;
  /** where the directories log what an operator must fix (an unreachable LDAP server, an unusable entry) */
  log?: Logger;
}

export async function openServices(
  { config, file }: LoadedConfig,
  options: OpenOptions = {},
): Promise<Services> {
  const declared = staticClients(config, file);
  let declaredSps;
  try {
    declaredSps = declaredServiceProviders(config.saml, file);
  } catch (err) {
    if (err instanceof ServiceProviderError) throw new ConfigError(err.message);
    throw err;
  }
  const keys = new KeyStore(config.keys.dir, config.keys.activation_delay);
  await keys.ensure();
  const samlCertificates = new SamlCertificates(
    config.keys.dir,
    config.keys.activation_delay,
    config.organisation.name,
  );
  const secrets = keys.secrets();
  const durable = await openDurable(config, file, keys);
  const { db } = durable;
  let kv: KeyValueStore;
  try {
    kv = options.lazyEphemeral
      ? new LazyKeyValueStore(() => openEphemeral(config, file))
      : await openEphemeral(config, file);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const users = new UserRepository(db);
  const groups = new GroupRepository(db);
  const hasher = new PasswordHasher(config.passwords.argon2);
  const log = options.log ?? createLogger('silent');
  const ldap = config.ldap?.enabled
    ? ldapServices(config.ldap, { users, groups, audit: durable.audit, hasher, log })
    : undefined;
  return {
    config,
    configFile: file,
    db,
    kv,
    keys,
    secrets,
    users,
    groups,
    clients: new ClientsWithAccount(
      [
        accountClient(config.server.issuer, secrets),
        samlClient(config.server.issuer, secrets),
        ...(config.admin.enabled ? [adminClient(config.server.issuer, secrets)] : []),
      ],
      db,
      secrets.encryptionKey,
      declared,
      durable.changes,
    ),
    audit: durable.audit,
    durableChanges: durable.changes,
    factors: new FactorRepository(db, secrets.encryptionKey),
    samlCertificates,
    serviceProviders: new ServiceProviderRegistry(db, declaredSps, durable.changes),
    hasher,
    directory: new DirectoryRouter(users, new LocalDirectory(users, hasher), ldap?.directory),
    ...(ldap ? { ldap } : {}),
    ...(config.upstream_providers.length > 0
      ? {
          upstream: new UpstreamDirectory(config.upstream_providers, config.server.issuer, {
            users,
            groups,
            audit: durable.audit,
            log,
          }),
        }
      : {}),
    async close() {
      await kv.close();
      await db.destroy();
    },
  };
}
