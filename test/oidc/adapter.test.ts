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

// Sessions by uid, grant revocation and racing consumes are in the key-value contract (test/store/kv-contract.test.ts).
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

  it('ties an interaction that asks for a new sign-in after a sign-out everywhere neither to its session nor to its grant', async () => {
    const interactions = adapter('Interaction');
    const session = { accountId: 'a', uid: 's1', cookie: 'c1' };
    const interaction = (reasons: string[]) =>
      ({ prompt: { name: 'login', reasons, details: {} }, session, grantId: 'g' }) as AdapterPayload;
    await interactions.upsert('after', interaction(['signed_out_everywhere']), 60);
    await interactions.upsert('stepup', interaction(['acr_step_up']), 60);

    const after = await interactions.find('after');
    expect(after).toMatchObject({ prompt: { reasons: ['signed_out_everywhere'] } });
    expect(after).not.toHaveProperty('session');
    expect(after).not.toHaveProperty('grantId');
    expect(await interactions.find('stepup')).toMatchObject({ session, grantId: 'g' });
    // revoking the old grant (the sign-out's follower ending the session) leaves the new sign-in alone
    await adapter('AccessToken').revokeByGrantId('g');
    expect(await interactions.find('after')).toBeDefined();
    expect(await interactions.find('stepup')).toBeUndefined();
  });
});
