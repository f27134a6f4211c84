import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_ARGON2, protocolError, relyingParty } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const SECRET = 'service-secret-0123456789';

describe('client credentials grant', () => {
  let poort: TestPoort;
  let service: oidc.Configuration;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    await poort.addClient({ clientId: 'service', secret: SECRET, grantTypes: ['client_credentials'] });
    await poort.addClient({
      clientId: 'web',
      secret: 'web-secret-0123456789',
      redirectUris: ['http://127.0.0.1:7777/cb'],
    });
    service = await relyingParty(poort, 'service', SECRET);
  });
  afterAll(async () => poort?.stop());

  it('issues an access token to a client registered for it, active at introspection', async () => {
    const tokens = await oidc.clientCredentialsGrant(service);
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.expires_in).toBeGreaterThan(0);
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.id_token).toBeUndefined();

    const introspection = await oidc.tokenIntrospection(service, tokens.access_token);
    expect(introspection).toMatchObject({ active: true, client_id: 'service' });
    expect(introspection.sub).toBeUndefined();
  });

  it('makes a revoked token inactive', async () => {
    const { access_token } = await oidc.clientCredentialsGrant(service);
    await oidc.tokenRevocation(service, access_token);
    expect(await oidc.tokenIntrospection(service, access_token)).toMatchObject({ active: false });
  });

  it('refuses a client not registered for the grant', async () => {
    const web = await relyingParty(poort, 'web', 'web-secret-0123456789');
    // RFC 6749 names this unauthorized_client; oidc-provider answers invalid_request, still a 400 protocol error.
    const refused = await protocolError(oidc.clientCredentialsGrant(web));
    expect(refused).toMatchObject({ error: 'invalid_request', status: 400 });
    expect(refused.description).toMatch(/grant type is not allowed/);
  });

  it('refuses a wrong client secret with invalid_client (401)', async () => {
    const impostor = await relyingParty(poort, 'service', 'not-the-secret-0123456789');
    expect(await protocolError(oidc.clientCredentialsGrant(impostor))).toMatchObject({
      error: 'invalid_client',
      status: 401,
    });
  });
});
