import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { cliPath, runCliOn } from '../helpers/cli.js';
import { FAST_ARGON2 } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { signInAt } from '../helpers/saml-browser.js';
import { refusalProblems, startSamlPoort } from '../helpers/saml-poort.js';
import { ServiceProvider } from '../helpers/saml-sp.js';
import { NAMEID_FORMAT } from '../helpers/saml-xml.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };

interface SpSummary {
  entityId: string;
  name?: string;
  nameIdFormat: string;
  attributes: Array<{ name: string; source?: string; value?: string }>;
  signResponse: boolean;
  signAssertion: boolean;
  encryptAssertion: boolean;
  assertionConsumerServices: Array<{ location: string; binding: string }>;
  authnRequestsSigned: boolean;
  source: string;
}

/** `poort sp add/list/show/remove` on the data of a running server, which picks the changes up at once. */
describe('poort sp', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let newcomer: ServiceProvider;
  let declared: ServiceProvider;
  let metadataFile: string;
  const cli = (args: string[]) => runCliOn(poort, ['sp', ...args]);

  beforeAll(async () => {
    if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first`);
    newcomer = await ServiceProvider.create({
      entityId: 'https://newcomer.example.test/sp',
      nameIdFormat: 'emailAddress',
      signRequests: true,
      encryption: true,
    });
    declared = await ServiceProvider.create({ entityId: 'https://declared.example.test/sp' });
    poort = await startSamlPoort([{ sp: declared, settings: { name: 'Declared' } }]);
    await newcomer.connect(poort.issuer);
    metadataFile = newcomer.writeMetadata(poort.dir);
    await poort.addUser({ username: 'anna', password: PASSWORD, email: 'anna@example.org', name: 'Anna' });
  }, 120_000);
  afterAll(async () => poort?.stop());

  it('adds an SP from its metadata; the running server serves it without a restart', async () => {
    const browser = new Browser();
    await signInAt(declared, browser, await declared.redirectRequest(), ANNA);
    expect(refusalProblems(await browser.navigate((await newcomer.redirectRequest()).url))).toEqual([]);

    const added = await cli([
      'add',
      '--metadata',
      metadataFile,
      '--name',
      'New App',
      '--name-id-format',
      'emailAddress',
      '--attribute',
      'email=mail',
      '--attribute',
      'username=uid',
      '--no-encrypt-assertion',
    ]);
    expect(added.stderr).not.toMatch(/error/i);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('https://newcomer.example.test/sp');

    const walked = await signInAt(newcomer, browser, await newcomer.redirectRequest());
    expect(walked.prompts).toEqual([]);
    const result = await newcomer.validateResponse(walked.post.fields as { SAMLResponse: string });
    expect(result.nameIdFormat).toBe(NAMEID_FORMAT.emailAddress);
    expect(result.nameId).toBe('anna@example.org');
    expect(result.attributes).toEqual({ mail: ['anna@example.org'], uid: ['anna'] });
    expect(result.encrypted).toBe(false);
  });

  it('lists and shows SPs from the store and from the configuration', async () => {
    const listed = await cli(['list', '--json']);
    expect(listed.code).toBe(0);
    const all = JSON.parse(listed.stdout) as SpSummary[];
    expect(all.map((s) => s.entityId).sort()).toEqual([declared.entityId, newcomer.entityId].sort());
    expect(all.find((s) => s.entityId === declared.entityId)!.source).toBe('config');

    const shown = await cli(['show', newcomer.entityId, '--json']);
    expect(shown.code).toBe(0);
    const sp = JSON.parse(shown.stdout) as SpSummary;
    expect(sp).toMatchObject({
      entityId: newcomer.entityId,
      name: 'New App',
      nameIdFormat: 'emailAddress',
      attributes: [
        { source: 'email', name: 'mail' },
        { source: 'username', name: 'uid' },
      ],
      signResponse: false,
      signAssertion: true,
      encryptAssertion: false,
      authnRequestsSigned: true,
    });
    expect(sp.assertionConsumerServices.map((a) => a.location)).toEqual([newcomer.acsUrl]);
    expect(shown.stdout).not.toContain('BEGIN CERTIFICATE');

    const text = await cli(['list']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('New App');
    expect(text.stdout).toContain('Declared');
  });

  it('refuses to add the same SP twice, bad metadata, and bad options, naming the problem', async () => {
    const again = await cli(['add', '--metadata', metadataFile]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already|exists/i);

    const missing = await cli(['add', '--metadata', path.join(poort.dir, 'nope.xml')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('nope.xml');

    const junk = path.join(poort.dir, 'junk.xml');
    fs.writeFileSync(junk, '<not-metadata/>');
    const bad = await cli(['add', '--metadata', junk]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/EntityDescriptor/);

    const xxe = path.join(poort.dir, 'xxe.xml');
    fs.writeFileSync(
      xxe,
      newcomer.metadata.replace(
        /^<\?xml[^>]*\?>/,
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
      ),
    );
    const entity = await cli(['add', '--metadata', xxe]);
    expect(entity.code).not.toBe(0);
    expect(entity.stderr + entity.stdout).not.toMatch(/root:.*:0:0:/);

    const format = await cli(['add', '--metadata', metadataFile, '--name-id-format', 'x509']);
    expect(format.code).not.toBe(0);
    expect(format.stderr).toMatch(/persistent/);

    const noMetadata = await cli(['add']);
    expect(noMetadata.code).not.toBe(0);
    expect(noMetadata.stderr).toMatch(/--metadata/);

    const unknown = await cli(['show', 'https://unknown.example.test/sp']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('https://unknown.example.test/sp');
  });

  it('will not remove an SP declared in the configuration', async () => {
    const removed = await cli(['remove', declared.entityId]);
    expect(removed.code).not.toBe(0);
    expect(removed.stderr).toMatch(/configuration/);
  });

  it('removes an SP; the running server refuses it from then on', async () => {
    const removed = await cli(['remove', newcomer.entityId]);
    expect(removed.code).toBe(0);
    const browser = new Browser();
    await signInAt(declared, browser, await declared.redirectRequest(), ANNA);
    expect(refusalProblems(await browser.navigate((await newcomer.redirectRequest()).url))).toEqual([]);
    const listed = JSON.parse((await cli(['list', '--json'])).stdout) as SpSummary[];
    expect(listed.map((s) => s.entityId)).toEqual([declared.entityId]);
  });

  it('encrypts for an SP added with an encryption certificate unless told not to', async () => {
    const sealed = await ServiceProvider.create({
      entityId: 'https://sealed-cli.example.test/sp',
      encryption: true,
    });
    await sealed.connect(poort.issuer);
    const file = sealed.writeMetadata(poort.dir);
    const added = await cli(['add', '--metadata', file, '--sign-response']);
    expect(added.code).toBe(0);
    const walked = await signInAt(sealed, new Browser(), await sealed.redirectRequest(), ANNA);
    const result = await sealed.validateResponse(walked.post.fields as { SAMLResponse: string }, {
      responseSigned: true,
    });
    expect(result.encrypted).toBe(true);
    expect(result.responseSigned).toBe(true);
    expect(result.attributes.email).toEqual(['anna@example.org']);
  });
});

/** An empty server: no SAML SPs at all still serves metadata, and refuses every request with a clear page. */
describe('SAML with no service providers', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
  }, 120_000);
  afterAll(async () => poort?.stop());

  it('serves metadata and refuses an AuthnRequest from an unknown SP', async () => {
    const sp = await ServiceProvider.create({ entityId: 'https://nobody.example.test/sp' });
    await sp.connect(poort.issuer);
    expect(refusalProblems(await new Browser().navigate((await sp.redirectRequest()).url))).toEqual([]);
  });
});
