import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserRepository } from '../../../src/directory/users.js';
import { DEFAULT_ATTRIBUTES } from '../../../src/saml/config.js';
import {
  ServiceProviderError,
  ServiceProviderRegistry,
  type ServiceProviderSettings,
} from '../../../src/saml/service-providers.js';
import { openDurableSqlite, type Db } from '../../../src/store/database.js';
import { openDurablePostgres } from '../../../src/store/postgres.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js';
import { tempDir } from '../../helpers/poort.js';
import { ENTITY_ID, spMetadataXml } from './fixtures.js';

const SETTINGS: ServiceProviderSettings = {
  name: 'Payroll',
  nameIdFormat: 'emailAddress',
  attributes: DEFAULT_ATTRIBUTES,
  signAssertion: true,
  signResponse: false,
};

const stores: Array<{ name: string; open(): Promise<{ db: Db; close(): Promise<void> }> }> = [
  {
    name: 'SQLite',
    async open() {
      const dir = tempDir('poort-saml-registry-');
      const { db } = await openDurableSqlite(dir);
      return {
        db,
        close: async () => {
          await db.destroy();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      const database: TestDatabase = await createTestDatabase();
      const db = await openDurablePostgres(database.url);
      return {
        db,
        close: async () => {
          await db.destroy();
          await database.drop();
        },
      };
    },
  },
];

describe.each(stores)('service providers and names on $name', (store) => {
  let db: Db;
  let close: () => Promise<void>;
  beforeAll(async () => ({ db, close } = await store.open()));
  afterAll(async () => close?.());

  it('stores an SP from its metadata, finds it, lists it and removes it', async () => {
    const registry = new ServiceProviderRegistry(db);
    const added = await registry.add(spMetadataXml(), SETTINGS);
    expect(added.entityId).toBe(ENTITY_ID);
    const found = await new ServiceProviderRegistry(db).find(ENTITY_ID);
    expect(found?.settings).toEqual(SETTINGS);
    expect(found?.metadata.assertionConsumerServices.map((e) => e.index)).toEqual([0, 2]);
    await expect(registry.add(spMetadataXml(), SETTINGS)).rejects.toMatchObject({ code: 'exists' });
    expect((await registry.list()).map((s) => s.entityId)).toEqual([ENTITY_ID]);
    await registry.remove(ENTITY_ID);
    expect(await registry.find(ENTITY_ID)).toBeUndefined();
    await expect(registry.remove(ENTITY_ID)).rejects.toBeInstanceOf(ServiceProviderError);
  });

  it('refuses metadata it cannot use and settings that contradict it', async () => {
    const registry = new ServiceProviderRegistry(db);
    await expect(registry.add('<not-metadata/>', SETTINGS)).rejects.toMatchObject({
      code: 'invalid_metadata',
    });
    await expect(
      registry.add(spMetadataXml(), { ...SETTINGS, encryptAssertion: true }),
    ).rejects.toMatchObject({
      code: 'invalid_settings',
    });
    await expect(
      registry.add(spMetadataXml(), { ...SETTINGS, signAssertion: false, signResponse: false }),
    ).rejects.toMatchObject({ code: 'invalid_settings' });
  });

  it('keeps given and family names of users', async () => {
    const users = new UserRepository(db);
    await users.create({
      username: 'anna',
      email: 'anna@example.org',
      givenName: 'Anna',
      familyName: 'de Vries',
    });
    expect(await users.findByUsername('anna')).toMatchObject({ givenName: 'Anna', familyName: 'de Vries' });
    const updated = await users.update('anna', { familyName: '' });
    expect(updated).toMatchObject({ givenName: 'Anna', familyName: null });
  });
});
