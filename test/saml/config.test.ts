import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { FAST_ARGON2 } from '../helpers/oidc.js';
import { startPoort, tempDir, type TestPoort } from '../helpers/poort.js';
import { signInAt } from '../helpers/saml-browser.js';
import { refusalProblems, startSamlPoort } from '../helpers/saml-poort.js';
import { ServiceProvider } from '../helpers/saml-sp.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };
const ENTITY_ID = 'https://idp.example.test/saml';

/** The `saml` configuration: own entityID, signed requests required of every SP, metadata given inline. */
describe('SAML configuration', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let signer: ServiceProvider;
  let inline: ServiceProvider;

  beforeAll(async () => {
    signer = await ServiceProvider.create({ entityId: 'https://signer.example.test/sp', signRequests: true });
    inline = await ServiceProvider.create({ entityId: 'https://inline.example.test/sp' });
    poort = await startSamlPoort([{ sp: signer }], {
      saml: { entity_id: ENTITY_ID, require_signed_requests: true },
    });
    await poort.addUser({ username: 'anna', password: PASSWORD, email: 'anna@example.org' });
  }, 120_000);
  afterAll(async () => poort?.stop());

  it('publishes the configured entityID and that it wants signed requests, and issues under it', async () => {
    expect(signer.idp.entityId).toBe(ENTITY_ID);
    expect(signer.idp.wantAuthnRequestsSigned).toBe(true);
    expect(signer.idp.sso.redirect).toBe(`${poort.issuer}/saml/sso`);
    const walked = await signInAt(signer, new Browser(), await signer.redirectRequest(), ANNA);
    const result = await signer.validateResponse(walked.post.fields as { SAMLResponse: string });
    expect(result.profile.issuer).toBe(ENTITY_ID);
  });

  it('refuses unsigned requests of an SP that does not declare AuthnRequestsSigned when all must be signed', async () => {
    const unsignedSp = await ServiceProvider.create({ entityId: 'https://unsigned.example.test/sp' });
    const other = await startSamlPoort([{ sp: unsignedSp }], { saml: { require_signed_requests: true } });
    try {
      await other.addUser({ username: 'anna', password: PASSWORD });
      const browser = new Browser();
      expect(refusalProblems(await browser.navigate((await unsignedSp.redirectRequest()).url))).toEqual([]);
      const post = await unsignedSp.postRequest();
      expect(refusalProblems(await browser.navigate(post.action, { form: post.fields }))).toEqual([]);
    } finally {
      await other.stop();
    }
  });

  it('takes SP metadata given inline in poort.yaml', async () => {
    const other = await startPoort(
      `${FAST_ARGON2}saml: ${JSON.stringify({
        service_providers: [{ metadata: inline.metadata, name_id_format: 'emailAddress' }],
      })}\n`,
    );
    try {
      await inline.connect(other.issuer);
      await other.addUser({ username: 'anna', password: PASSWORD, email: 'anna@example.org' });
      const walked = await signInAt(
        inline,
        new Browser(),
        await inline.redirectRequest({ nameIdFormat: 'emailAddress' }),
        ANNA,
      );
      const result = await inline.validateResponse(walked.post.fields as { SAMLResponse: string });
      expect(result.nameId).toBe('anna@example.org');
    } finally {
      await other.stop();
    }
  });

  it('stops start-up on an unreadable or unusable metadata file, naming the file and the key', async () => {
    const dir = tempDir('poort-saml-bad-');
    try {
      const missing = path.join(dir, 'missing.xml');
      await expect(
        startPoort(
          `${FAST_ARGON2}saml: { service_providers: [{ metadata_file: ${JSON.stringify(missing)} }] }\n`,
        ),
      ).rejects.toThrow(/saml\.service_providers\[0\]\.metadata_file.*missing\.xml/);

      const junk = path.join(dir, 'junk.xml');
      fs.writeFileSync(junk, '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>');
      await expect(
        startPoort(
          `${FAST_ARGON2}saml: { service_providers: [{ metadata_file: ${JSON.stringify(junk)} }] }\n`,
        ),
      ).rejects.toThrow(/saml\.service_providers\[0\]/);

      await expect(
        startPoort(
          `${FAST_ARGON2}saml: { service_providers: [{ metadata_file: x.xml, name_id_format: x509 }] }\n`,
        ),
      ).rejects.toThrow(/name_id_format/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
