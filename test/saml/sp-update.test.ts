import crypto from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { Browser } from '../helpers/browser.js';
import { cliPath, runCliOn } from '../helpers/cli.js';
import { signInAt } from '../helpers/saml-browser.js';
import { refusalProblems, startSamlPoort } from '../helpers/saml-poort.js';
import { ServiceProvider } from '../helpers/saml-sp.js';
import type { TestPoort } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };
const ENTITY_ID = 'https://payroll.example.test/sp';

/**
 * `poort sp update` on the data of a running server: an SP rolls over its signing certificate and moves its
 * endpoint; the helpdesk loads its new metadata and the server follows at the next request.
 */
describe('poort sp update', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let old: ServiceProvider;
  let renewed: ServiceProvider;
  let declared: ServiceProvider;
  const cli = (args: string[]) => runCliOn(poort, ['sp', ...args]);
  const since = async () => (await poort.services.audit.query({ limit: 1 }))[0]?.seq ?? 0;
  const eventsAfter = async (seq: number) =>
    (await poort.services.audit.readAfter(seq, 200)).map((e) => e.event as AuditEvent);
  const fingerprint = (pem: string) => new crypto.X509Certificate(pem).fingerprint256;

  beforeAll(async () => {
    if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first`);
    // the same SP before and after its certificate rollover: another signing key, another ACS address
    old = await ServiceProvider.create({ entityId: ENTITY_ID, signRequests: true });
    renewed = await ServiceProvider.create({
      entityId: ENTITY_ID,
      signRequests: true,
      acsUrl: 'http://127.0.0.1:9/payroll-v2/acs',
    });
    declared = await ServiceProvider.create({ entityId: 'https://declared.example.test/sp' });
    poort = await startSamlPoort([{ sp: declared, settings: { name: 'Declared' } }]);
    await old.connect(poort.issuer);
    await renewed.connect(poort.issuer);
    await poort.addUser({ username: 'anna', password: PASSWORD, email: 'anna@example.org', name: 'Anna' });
    const added = await cli([
      'add',
      '--metadata',
      old.writeMetadata(poort.dir, 'old.xml'),
      '--name',
      'Payroll',
    ]);
    expect(added.code).toBe(0);
  }, 120_000);
  afterAll(async () => poort?.stop());

  it('takes the new metadata and settings at once: the new key and endpoint work, the old key no longer', async () => {
    const browser = new Browser();
    await signInAt(old, browser, await old.redirectRequest(), ANNA);
    // signed with a key Poort does not know yet: refused
    expect(refusalProblems(await browser.navigate((await renewed.redirectRequest()).url))).toEqual([]);
    const seq = await since();

    const result = await cli([
      'update',
      ENTITY_ID,
      '--metadata',
      renewed.writeMetadata(poort.dir, 'renewed.xml'),
      '--name',
      'Payroll 2',
      '--attribute',
      'email=mail',
      '--attribute-value',
      'org=Acme',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `Updated service provider ${ENTITY_ID}: metadata, assertion_consumer_services, signing_certificates, attributes, name\n`,
    );
    expect(result.stdout).toMatch(/^name:\s+Payroll 2$/m);

    const walked = await signInAt(renewed, browser, await renewed.redirectRequest());
    expect(walked.post.action).toBe(renewed.acsUrl);
    const assertion = await renewed.validateResponse(walked.post.fields as { SAMLResponse: string });
    expect(assertion.attributes).toEqual({ mail: ['anna@example.org'], org: ['Acme'] });
    expect(refusalProblems(await browser.navigate((await old.redirectRequest()).url))).toEqual([]);

    const events = await eventsAfter(seq);
    expect(events.filter((e) => e.action === 'client.updated')).toEqual([
      expect.objectContaining({
        outcome: 'success',
        actor: expect.objectContaining({ type: 'cli' }),
        application: { id: ENTITY_ID, protocol: 'saml' },
        details: {
          metadata: 'replaced',
          assertion_consumer_services: {
            added: [`${renewed.acsUrl} (HTTP-POST)`],
            removed: [`${old.acsUrl} (HTTP-POST)`],
          },
          signing_certificates: {
            added: [fingerprint(renewed.signing!.certificate)],
            removed: [fingerprint(old.signing!.certificate)],
          },
          attributes: { added: ['mail', 'org'], removed: ['email', 'name', 'groups'] },
          name: 'Payroll 2',
        },
      }),
    ]);
    // the old key's request was refused for its signature
    expect(events.filter((e) => e.action === 'saml.request').at(-1)).toMatchObject({
      outcome: 'failure',
      reason: 'bad_signature',
    });
  });

  it('refuses metadata of another SP, a declared SP, impossible settings and no change, and records nothing', async () => {
    const seq = await since();
    const other = await ServiceProvider.create({ entityId: 'https://other.example.test/sp' });
    const [wrongEntity, isDeclared, unknown, encrypt, unsigned, nothing, same] = await Promise.all([
      cli(['update', ENTITY_ID, '--metadata', other.writeMetadata(poort.dir)]),
      cli(['update', declared.entityId, '--name', 'X']),
      cli(['update', 'https://unknown.example.test/sp', '--name', 'X']),
      cli(['update', ENTITY_ID, '--encrypt-assertion']),
      cli(['update', ENTITY_ID, '--no-sign-assertion']),
      cli(['update', ENTITY_ID]),
      cli(['update', ENTITY_ID, '--name', 'Payroll 2']),
    ]);
    expect([wrongEntity.code, wrongEntity.stderr]).toEqual([
      1,
      `poort: the metadata is for ${other.entityId}, not ${ENTITY_ID}; register another service provider with "poort sp add"\n`,
    ]);
    expect(isDeclared.code).toBe(1);
    expect(isDeclared.stderr).toContain('is declared in the configuration; change it there');
    expect([unknown.code, unknown.stderr]).toEqual([
      1,
      'poort: no service provider https://unknown.example.test/sp\n',
    ]);
    expect(encrypt.code).toBe(1);
    expect(encrypt.stderr).toContain('publishes no encryption certificate');
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain('a response must be signed');
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('nothing to change');
    expect([same.code, same.stdout]).toEqual([
      0,
      `Service provider ${ENTITY_ID} is already so; nothing changed\n`,
    ]);
    expect((await eventsAfter(seq)).filter((e) => e.action === 'client.updated')).toEqual([]);
  });
});
