import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { cliPath, runCliOn } from '../helpers/cli.js';
import type { TestPoort } from '../helpers/poort.js';
import { signInAt } from '../helpers/saml-browser.js';
import { sameCertificate } from '../helpers/saml-keys.js';
import { startSamlPoort } from '../helpers/saml-poort.js';
import { fetchIdpMetadata, ServiceProvider } from '../helpers/saml-sp.js';
import { xmlsecVerify } from '../helpers/xmlsec.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };

interface KeySummary {
  kid: string;
  alg: string;
  current: boolean;
}

/** The SAML signing certificate lives in keys/ and rotates with the other keys, under a running server. */
describe('SAML signing certificate rotation', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let sp: ServiceProvider;
  const cli = (args: string[]) => runCliOn(poort, ['keys', ...args]);
  const samlKeys = async () =>
    (JSON.parse((await cli(['list', '--json'])).stdout) as KeySummary[]).filter((k) => k.alg === 'SAML');

  /** Signs in at `sp` and returns the Response XML, validated by `sp` with the certificates it knows. */
  async function assertionXml(): Promise<string> {
    const walked = await signInAt(sp, new Browser(), await sp.redirectRequest(), ANNA);
    return (await sp.validateResponse(walked.post.fields as { SAMLResponse: string })).responseXml;
  }

  beforeAll(async () => {
    if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first`);
    sp = await ServiceProvider.create({ entityId: 'https://rotating.example.test/sp' });
    poort = await startSamlPoort([{ sp }], { yaml: 'keys: { activation_delay: 0s }\n' });
    await poort.addUser({ username: 'anna', password: PASSWORD });
  }, 120_000);
  afterAll(async () => poort?.stop());

  it('makes one certificate on first start, in the keys folder, and publishes it', async () => {
    const listed = await samlKeys();
    expect(listed).toHaveLength(1);
    expect(listed[0]!.current).toBe(true);
    const files = fs.readdirSync(path.join(poort.dir, 'keys')).filter((f) => f.includes(listed[0]!.kid));
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(sp.idp.signingCertificates).toHaveLength(1);
    const cert = files.find((f) => f.endsWith('.crt'));
    expect(cert).toBeDefined();
    const onDisk = fs
      .readFileSync(path.join(poort.dir, 'keys', cert!), 'utf8')
      .replace(/# created .*\n?/, '');
    expect(sameCertificate(onDisk, sp.idp.signingCertificates[0]!)).toBe(true);
  });

  it('signs with a new certificate after "poort keys rotate", publishing both, and drops the old on retire', async () => {
    const [old] = await samlKeys();
    const before = await assertionXml();
    const oldCert = sp.idp.signingCertificates[0]!;
    expect((await xmlsecVerify(before, oldCert, 'Assertion')).ok).toBe(true);

    const rotated = await cli(['rotate']);
    expect(rotated.code).toBe(0);
    const after = await samlKeys();
    expect(after).toHaveLength(2);
    const fresh = after.find((k) => k.kid !== old!.kid)!;
    expect(fresh.current).toBe(true);

    const metadata = await fetchIdpMetadata(poort.issuer);
    expect(metadata.signingCertificates).toHaveLength(2);
    const newCert = metadata.signingCertificates.find((c) => !sameCertificate(c, oldCert))!;
    // an SP that still has only the old metadata refuses the new signature; with the new metadata it accepts
    await expect(assertionXml()).rejects.toThrow(/signature/i);
    await sp.connect(metadata);
    const signedByNew = await assertionXml();
    expect((await xmlsecVerify(signedByNew, newCert, 'Assertion')).ok).toBe(true);
    expect((await xmlsecVerify(signedByNew, oldCert, 'Assertion')).ok).toBe(false);

    const refused = await cli(['retire', fresh.kid]);
    expect(refused.code).not.toBe(0);
    const retired = await cli(['retire', old!.kid]);
    expect(retired.code).toBe(0);
    const final = await fetchIdpMetadata(poort.issuer);
    expect(final.signingCertificates).toHaveLength(1);
    expect(sameCertificate(final.signingCertificates[0]!, newCert)).toBe(true);
    await sp.connect(final);
    await assertionXml();
  });
});
