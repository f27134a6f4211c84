import { changedFields } from '../audit/changes.js';
import { DurableCache } from '../store/durable-cache.js';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../store/database.js';
import {
  DEFAULT_ATTRIBUTES,
  releasedAttributeSchema,
  type NameIdFormat,
  type ReleasedAttribute,
  type SamlConfig,
} from './config.js';
import { MetadataError, parseSpMetadata, type SpMetadata } from './sp-metadata.js';
import { isUniqueViolation } from '../store/unique.js';

/** Poort's own settings for a service provider; everything else comes from its metadata. */
export interface ServiceProviderSettings {
  name?: string;
  nameIdFormat: NameIdFormat;
  attributes: ReleasedAttribute[];
  signResponse: boolean;
  signAssertion: boolean;
  /** undefined: encrypt when the metadata has an encryption certificate */
  encryptAssertion?: boolean;
}

export interface ServiceProvider {
  entityId: string;
  metadataXml: string;
  metadata: SpMetadata;
  settings: ServiceProviderSettings;
  source: 'store' | 'config';
  createdAt: string;
}

export class ServiceProviderError extends Error {
  override readonly name = 'ServiceProviderError';
  constructor(
    readonly code: 'invalid_metadata' | 'invalid_settings' | 'exists' | 'not_found',
    message: string,
  ) {
    super(message);
  }
}

/** Whether assertions to this SP are encrypted: as configured, else whenever it publishes an encryption key. */
export function encrypts(sp: Pick<ServiceProvider, 'metadata' | 'settings'>): boolean {
  return sp.settings.encryptAssertion ?? sp.metadata.encryptionCertificates.length > 0;
}

/** Checks the settings against the metadata: encryption needs a certificate to encrypt to. */
export function checkSettings(metadata: SpMetadata, settings: ServiceProviderSettings): void {
  if (settings.encryptAssertion === true && metadata.encryptionCertificates.length === 0)
    throw new ServiceProviderError(
      'invalid_settings',
      `${metadata.entityId} publishes no encryption certificate: its assertions cannot be encrypted`,
    );
  for (const attribute of settings.attributes) {
    const checked = releasedAttributeSchema.safeParse(attribute);
    if (!checked.success)
      throw new ServiceProviderError(
        'invalid_settings',
        `attribute ${attribute.name}: ${checked.error.issues[0]?.message}`,
      );
  }
  if (!settings.signAssertion && !settings.signResponse)
    throw new ServiceProviderError(
      'invalid_settings',
      'a response must be signed: keep the assertion or the response signed',
    );
}

/** A certificate by its SHA-256 fingerprint, as `openssl x509 -fingerprint -sha256` shows it. */
function fingerprint(pem: string): string {
  return new crypto.X509Certificate(pem).fingerprint256;
}

/**
 * What differs between two versions of a service provider, for the audit trail and the CLI: `metadata: replaced`
 * for a new metadata document, its endpoints and certificates (by SHA-256 fingerprint) as added and removed, Poort's
 * settings as their new value (null: removed).
 */
export function serviceProviderChanges(
  before: ServiceProvider,
  after: ServiceProvider,
): Record<string, unknown> {
  const endpoint = (e: { location: string; binding: string }) =>
    `${e.location} (${e.binding.split(':').pop()})`;
  const both = <T>(pick: (sp: ServiceProvider) => T) => [pick(before), pick(after)] as const;
  const changes = changedFields(
    [
      ['assertion_consumer_services', ...both((sp) => sp.metadata.assertionConsumerServices.map(endpoint))],
      ['single_logout_services', ...both((sp) => sp.metadata.singleLogoutServices.map(endpoint))],
      ['signing_certificates', ...both((sp) => sp.metadata.signingCertificates.map(fingerprint))],
      ['encryption_certificates', ...both((sp) => sp.metadata.encryptionCertificates.map(fingerprint))],
      ['attributes', ...both((sp) => sp.settings.attributes.map((a) => a.name))],
    ],
    [
      ['name', ...both((sp) => sp.settings.name)],
      ['name_id_format', ...both((sp) => sp.settings.nameIdFormat)],
      ['sign_response', ...both((sp) => sp.settings.signResponse)],
      ['sign_assertion', ...both((sp) => sp.settings.signAssertion)],
      ['encrypt_assertion', ...both(encrypts)],
      ['authn_requests_signed', ...both((sp) => sp.metadata.authnRequestsSigned)],
    ],
  );
  // the same attribute names with other sources or values
  const released = both((sp) => JSON.stringify(sp.settings.attributes));
  if (!changes.attributes && released[0] !== released[1])
    changes.attributes = { added: [], removed: [], changed: after.settings.attributes.map((a) => a.name) };
  // any new metadata document is recorded, also one whose differences the fields above do not show
  return after.metadataXml !== before.metadataXml ? { metadata: 'replaced', ...changes } : changes;
}

export function metadataOf(xml: string): SpMetadata {
  try {
    return parseSpMetadata(xml);
  } catch (err) {
    if (err instanceof MetadataError) throw new ServiceProviderError('invalid_metadata', err.message);
    throw err;
  }
}

/** The service providers declared in the configuration file, read at start-up; a bad one stops it. */
export function declaredServiceProviders(saml: SamlConfig, configFile: string): ServiceProvider[] {
  const seen = new Set<string>();
  return saml.service_providers.map((sp, i) => {
    const where = `${configFile}: saml.service_providers[${i}]`;
    let xml = sp.metadata;
    if (sp.metadata_file) {
      const file = path.resolve(path.dirname(configFile), sp.metadata_file);
      try {
        xml = fs.readFileSync(file, 'utf8');
      } catch (err) {
        throw new ServiceProviderError(
          'invalid_metadata',
          `${where}.metadata_file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
        );
      }
    }
    const settings: ServiceProviderSettings = {
      ...(sp.name ? { name: sp.name } : {}),
      nameIdFormat: sp.name_id_format,
      attributes: sp.attributes ?? DEFAULT_ATTRIBUTES,
      signResponse: sp.sign_response,
      signAssertion: sp.sign_assertion,
      ...(sp.encrypt_assertion !== undefined ? { encryptAssertion: sp.encrypt_assertion } : {}),
    };
    try {
      const metadata = metadataOf(xml!);
      checkSettings(metadata, settings);
      if (seen.has(metadata.entityId))
        throw new ServiceProviderError('exists', `${metadata.entityId} is declared twice`);
      seen.add(metadata.entityId);
      return {
        entityId: metadata.entityId,
        metadataXml: xml!,
        metadata,
        settings,
        source: 'config',
        createdAt: '',
      };
    } catch (err) {
      if (err instanceof ServiceProviderError)
        throw new ServiceProviderError(err.code, `${where}: ${err.message}`);
      throw err;
    }
  });
}

/**
 * The registered SAML service providers: declared in the configuration file, or stored by `poort sp add`. Look-ups are
 * served from memory until the durable store's change counter moves, so the CLI's changes reach a running server
 * at its next request.
 */
export class ServiceProviderRegistry {
  readonly #declared = new Map<string, ServiceProvider>();
  readonly #cache: DurableCache<ServiceProvider>;

  constructor(
    private readonly db: Db,
    declared: ServiceProvider[] = [],
    changes: () => number = () => Number.NaN,
  ) {
    this.#cache = new DurableCache(changes);
    for (const sp of declared) this.#declared.set(sp.entityId, sp);
  }

  async find(entityId: string): Promise<ServiceProvider | undefined> {
    const declared = this.#declared.get(entityId);
    if (declared) return declared;
    return this.#cache.get(entityId, async (id) => {
      const row = await this.db
        .selectFrom('service_providers')
        .selectAll()
        .where('entity_id', '=', id)
        .executeTakeFirst();
      return row ? this.fromRow(row) : undefined;
    });
  }

  private fromRow(row: {
    entity_id: string;
    metadata: string;
    settings: string;
    created_at: string;
  }): ServiceProvider {
    return {
      entityId: row.entity_id,
      metadataXml: row.metadata,
      metadata: parseSpMetadata(row.metadata),
      settings: JSON.parse(row.settings) as ServiceProviderSettings,
      source: 'store',
      createdAt: row.created_at,
    };
  }

  async list(): Promise<ServiceProvider[]> {
    const rows = await this.db.selectFrom('service_providers').selectAll().orderBy('entity_id').execute();
    return [...this.#declared.values(), ...rows.map((r) => this.fromRow(r))].sort((a, b) =>
      a.entityId.localeCompare(b.entityId),
    );
  }

  async add(metadataXml: string, settings: ServiceProviderSettings): Promise<ServiceProvider> {
    const metadata = metadataOf(metadataXml);
    checkSettings(metadata, settings);
    this.#cache.changed();
    if (this.#declared.has(metadata.entityId))
      throw new ServiceProviderError('exists', `${metadata.entityId} is declared in the configuration`);
    const now = new Date().toISOString();
    try {
      await this.db
        .insertInto('service_providers')
        .values({
          entity_id: metadata.entityId,
          metadata: metadataXml,
          settings: JSON.stringify(settings),
          created_at: now,
          updated_at: now,
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw new ServiceProviderError('exists', `service provider ${metadata.entityId} already exists`);
      throw err;
    }
    return { entityId: metadata.entityId, metadataXml, metadata, settings, source: 'store', createdAt: now };
  }

  /**
   * Replaces a stored service provider's metadata (a new certificate, other endpoints: the same entityID) and/or
   * settings; checked as a new one would be. The running server uses it at the next request.
   */
  async update(
    entityId: string,
    change: { metadataXml?: string; settings: (current: ServiceProviderSettings) => ServiceProviderSettings },
  ): Promise<{ before: ServiceProvider; after: ServiceProvider }> {
    this.#cache.changed();
    const row = await this.db
      .selectFrom('service_providers')
      .selectAll()
      .where('entity_id', '=', entityId)
      .executeTakeFirst();
    if (!row) throw new ServiceProviderError('not_found', `no service provider ${entityId}`);
    const before = this.fromRow(row);
    const metadataXml = change.metadataXml ?? before.metadataXml;
    const metadata = change.metadataXml === undefined ? before.metadata : metadataOf(change.metadataXml);
    if (metadata.entityId !== entityId)
      throw new ServiceProviderError(
        'invalid_metadata',
        `the metadata is for ${metadata.entityId}, not ${entityId}; register another service provider with "poort sp add"`,
      );
    const settings = change.settings(before.settings);
    checkSettings(metadata, settings);
    const after: ServiceProvider = { ...before, metadataXml, metadata, settings };
    // written only when something changed, so that nothing changes unrecorded
    if (Object.keys(serviceProviderChanges(before, after)).length > 0) {
      await this.db
        .updateTable('service_providers')
        .set({
          metadata: metadataXml,
          settings: JSON.stringify(settings),
          updated_at: new Date().toISOString(),
        })
        .where('entity_id', '=', entityId)
        .execute();
    }
    return { before, after };
  }

  async remove(entityId: string): Promise<void> {
    this.#cache.changed();
    const result = await this.db
      .deleteFrom('service_providers')
      .where('entity_id', '=', entityId)
      .executeTakeFirst();
    if (Number(result.numDeletedRows) === 0)
      throw new ServiceProviderError(
        'not_found',
        this.#declared.has(entityId)
          ? `service provider ${entityId} is declared in the configuration; remove it there`
          : `no service provider ${entityId}`,
      );
  }
}
