import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_ARGON2, relyingParty } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const SECRET = 'service-secret-0123456789';

describe('Poort with its durable store on PostgreSQL', () => {
  let database: TestDatabase;
  let poort: TestPoort;

  beforeAll(async () => {
    database = await createTestDatabase();
    poort = await startPoort(
      `${FAST_ARGON2}storage: { durable: postgres, database_url: '${database.url}' }\n`,
    );
  });
  afterAll(async () => {
    await poort?.stop();
    await database?.drop();
  });

  it('keeps users, clients and the audit trail in PostgreSQL', async () => {
    expect(poort.services.config.storage.durable).toBe('postgres');
    const id = await poort.addUser({ username: 'anna', password: 'a passphrase nobody guesses' });
    expect((await poort.services.users.findByUsername('anna'))?.id).toBe(id);
    await poort.addClient({ clientId: 'service', secret: SECRET, grantTypes: ['client_credentials'] });
    const service = await relyingParty(poort, 'service', SECRET);
    const tokens = await oidc.clientCredentialsGrant(service);
    expect(await oidc.tokenIntrospection(service, tokens.access_token)).toMatchObject({ active: true });

    await poort.services.audit.append({
      action: 'signin.denied',
      outcome: 'failure',
      actor: { type: 'user' },
      subject: { username: 'pg-probe', known: false },
    });
    const report = await poort.services.audit.verify();
    expect(report).toMatchObject({ ok: true });
    expect(report.events).toBeGreaterThan(0);
    expect(await poort.services.audit.query({ user: 'pg-probe' })).toHaveLength(1);
  });
});
