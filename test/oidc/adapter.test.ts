import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AdapterPayload } from 'oidc-provider';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClientRepository } from '../../src/clients/clients.js';
import { OidcAdapter } from '../../src/oidc/adapter.js';
import type { Db } from '../../src/store/database.js';
import { tempDir } from '../helpers/poort.js';
import type { KeyValueStore } from '../../src/store/kv.js';
import { openTestDurableStore, openTestKeyValueStore } from '../helpers/backend.js';

describe("oidc-provider's storage on the key-value store", () => {
  let dir: string;
  let kv: KeyValueStore;
  let db: Db;
  let clients: ClientRepository;
  const adapter = (model: string) => new OidcAdapter(model, kv, clients);

  beforeEach(async () => {
    dir = tempDir();
    kv = await openTestKeyValueStore(dir);
    db = await openTestDurableStore(dir);
    clients = new ClientRepository(db, crypto.randomBytes(32));
  });
  afterEach(async () => {
    await kv.close();
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a model until its expiry, and finds a session by uid', async () => {
    const sessions = adapter('Session');
    await sessions.upsert('s1', { uid: 'u1', accountId: 'a' } as AdapterPayload, 60);
    expect(await sessions.find('s1')).toMatchObject({ accountId: 'a' });
    expect(await sessions.findByUid('u1')).toMatchObject({ accountId: 'a' });
    await sessions.destroy('s1');
    expect(await sessions.find('s1')).toBeUndefined();
    expect(await sessions.findByUid('u1')).toBeUndefined();
  });

  it('reads clients from the client repository, so CLI changes apply at once', async () => {
    await clients.add({
      clientId: 'wiki',
      secret: 'wiki-secret-0123456789',
      redirectUris: ['https://wiki.example.org/cb'],
      postLogoutRedirectUris: [],
      grantTypes: ['authorization_code'],
      firstParty: true,
      requirePkce: false,
    });
    expect(await adapter('Client').find('wiki')).toMatchObject({
      client_id: 'wiki',
      client_secret: 'wiki-secret-0123456789',
    });
    await clients.remove('wiki');
    expect(await adapter('Client').find('wiki')).toBeUndefined();
  });

  it('revokes every token of a grant at once', async () => {
    await adapter('AccessToken').upsert('at', { grantId: 'g' } as AdapterPayload, 60);
    await adapter('RefreshToken').upsert('rt', { grantId: 'g' } as AdapterPayload, 60);
    await adapter('AccessToken').upsert('other', { grantId: 'h' } as AdapterPayload, 60);
    await adapter('RefreshToken').revokeByGrantId('g');
    expect(await adapter('AccessToken').find('at')).toBeUndefined();
    expect(await adapter('RefreshToken').find('rt')).toBeUndefined();
    expect(await adapter('AccessToken').find('other')).toBeDefined();
  });

  it('consumes a token once; a second consume is reuse: invalid_grant, the grant and all its tokens are gone', async () => {
    const tokens = adapter('RefreshToken');
    await adapter('Grant').upsert('g', { jti: 'g', accountId: 'a' } as AdapterPayload, 60);
    await tokens.upsert('rt1', { grantId: 'g' } as AdapterPayload, 60);
    await adapter('AccessToken').upsert('at1', { grantId: 'g' } as AdapterPayload, 60);

    await tokens.consume('rt1');
    expect((await tokens.find('rt1'))?.consumed).toBeTypeOf('number');
    await expect(tokens.consume('rt1')).rejects.toMatchObject({ error: 'invalid_grant' });

    expect(await tokens.find('rt1')).toBeUndefined();
    expect(await adapter('AccessToken').find('at1')).toBeUndefined();
    // The race's winner may store its new refresh token only now: without its grant, oidc-provider refuses it.
    expect(await adapter('Grant').find('g')).toBeUndefined();
  });
});
