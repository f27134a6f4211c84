import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import type { TestPoort } from '../helpers/poort.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { deleteKeysUnder, keysUnder, redisUrl, requireRedis, testPrefix } from '../helpers/redis.js';
import { isPasswordForm } from '../helpers/oidc.js';
import { signInAt, walk } from '../helpers/saml-browser.js';
import { refusalProblems, startSamlPoort } from '../helpers/saml-poort.js';
import { ServiceProvider } from '../helpers/saml-sp.js';
import { STATUS } from '../helpers/saml-xml.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };

/** SAML with its ephemeral state in Redis and its durable data in PostgreSQL, as several nodes would run it. */
describe('SAML on Redis and PostgreSQL', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let database: TestDatabase;
  let prefix: string;
  let sp: ServiceProvider;

  beforeAll(async () => {
    await requireRedis();
    database = await createTestDatabase();
    prefix = testPrefix();
    sp = await ServiceProvider.create({ entityId: 'https://backends.example.test/sp', signRequests: true });
    poort = await startSamlPoort([{ sp }], {
      yaml:
        `storage: { durable: postgres, database_url: '${database.url}', ephemeral: redis, ` +
        `redis_url: '${redisUrl}', redis_prefix: '${prefix}' }\n`,
    });
    await poort.addUser({ username: 'anna', password: PASSWORD, email: 'anna@example.org' });
  }, 120_000);
  afterAll(async () => {
    await poort?.stop();
    await database?.drop();
    if (prefix) await deleteKeysUnder(prefix);
  });

  it('signs in, keeps the replay cache and SAML sessions in Redis, and refuses a replay', async () => {
    expect(poort.services.config.storage).toMatchObject({ durable: 'postgres', ephemeral: 'redis' });
    const browser = new Browser();
    const request = await sp.redirectRequest();
    const walked = await signInAt(sp, browser, request, ANNA);
    const result = await sp.validateResponse(walked.post.fields as { SAMLResponse: string });
    expect(result.attributes.email).toEqual(['anna@example.org']);
    const keys = await keysUnder(prefix);
    expect(keys.some((k) => k.includes('saml:seen:'))).toBe(true);
    expect(keys.some((k) => k.includes(`saml:session:${result.sessionIndex}`))).toBe(true);
    expect(refusalProblems(await browser.navigate(request.url))).toEqual([]);

    const logout = await sp.logoutRequest({
      nameId: result.nameId,
      nameIdFormat: result.nameIdFormat,
      spNameQualifier: result.spNameQualifier,
      sessionIndex: result.sessionIndex,
    });
    const done = await walk(browser, await browser.navigate(logout.url, {}, sp.sloUrl), undefined, sp.sloUrl);
    const answer = await sp.validateWalkedLogoutResponse(done);
    expect(answer.status).toBe(STATUS.success);
    expect((await keysUnder(prefix)).some((k) => k.includes(`saml:session:${result.sessionIndex}`))).toBe(
      false,
    );
    expect(isPasswordForm(await browser.navigate((await sp.redirectRequest()).url))).toBe(true);
  });

  it('records the audit trail in PostgreSQL', async () => {
    const issued = await poort.services.audit.query({ action: 'saml.assertion.issued', app: sp.entityId });
    expect(issued.length).toBeGreaterThanOrEqual(1);
    expect(await poort.services.audit.query({ action: 'saml.logout', app: sp.entityId })).not.toHaveLength(0);
  });
});
