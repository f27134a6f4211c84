import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import type { TestPoort } from '../helpers/poort.js';
import { signInAt } from '../helpers/saml-browser.js';
import { startSamlPoort } from '../helpers/saml-poort.js';
import { ServiceProvider } from '../helpers/saml-sp.js';
import { children, elements, NS, parseXml } from '../helpers/saml-xml.js';
import { xmlsecVerify } from '../helpers/xmlsec.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };

/** Assertions for an SP that publishes an encryption certificate: encrypted, and decrypted only with its key. */
describe('SAML encrypted assertions', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let sealed: ServiceProvider;
  let sealedSigned: ServiceProvider;
  let optedOut: ServiceProvider;

  beforeAll(async () => {
    sealed = await ServiceProvider.create({ entityId: 'https://sealed.example.test/sp', encryption: true });
    sealedSigned = await ServiceProvider.create({
      entityId: 'https://sealed-signed.example.test/sp',
      encryption: true,
      signRequests: true,
    });
    optedOut = await ServiceProvider.create({
      entityId: 'https://opted-out.example.test/sp',
      encryption: true,
    });
    poort = await startSamlPoort([
      { sp: sealed },
      { sp: sealedSigned, settings: { sign_response: true } },
      { sp: optedOut, settings: { encrypt_assertion: false } },
    ]);
    await poort.addUser({ username: 'anna', password: PASSWORD, email: 'anna@example.org', name: 'Anna' });
  }, 120_000);
  afterAll(async () => poort?.stop());

  async function signIn(sp: ServiceProvider, responseSigned = false) {
    const walked = await signInAt(sp, new Browser(), await sp.redirectRequest(), ANNA);
    return sp.validateResponse(walked.post.fields as { SAMLResponse: string }, { responseSigned });
  }

  it('encrypts the assertion with AES-256-GCM and RSA-OAEP; node-saml decrypts and checks it', async () => {
    const result = await signIn(sealed);
    expect(result.encrypted).toBe(true);
    const response = parseXml(result.responseXml).documentElement;
    expect(children(response, NS.assertion, 'Assertion')).toHaveLength(0);
    const encrypted = children(response, NS.assertion, 'EncryptedAssertion')[0]!;
    const methods = elements(encrypted, NS.xmlenc, 'EncryptionMethod').map((m) =>
      m.getAttribute('Algorithm'),
    );
    expect(methods).toContain('http://www.w3.org/2009/xmlenc11#aes256-gcm');
    expect(methods.some((m) => /rsa-oaep/.test(m ?? ''))).toBe(true);
    expect(methods.some((m) => /rsa-1_5/.test(m ?? ''))).toBe(false);
    // nothing of the user in clear text
    expect(result.responseXml).not.toContain('anna@example.org');
    expect(result.attributes.email).toEqual(['anna@example.org']);
    expect(result.audiences).toEqual([sealed.entityId]);

    // the decrypted assertion's own signature, checked by xmlsec1
    const assertion = await xmlsecVerify(
      result.sentAssertionXml,
      sealed.idp.signingCertificates[0]!,
      'Assertion',
    );
    expect(assertion.output).toMatch(/OK/);
    expect(assertion.ok).toBe(true);
  });

  it('signs the response around the encrypted assertion when asked', async () => {
    const result = await signIn(sealedSigned, true);
    expect(result.encrypted).toBe(true);
    expect(result.responseSigned).toBe(true);
    expect(
      (await xmlsecVerify(result.responseXml, sealedSigned.idp.signingCertificates[0]!, 'Response')).ok,
    ).toBe(true);
  });

  it("cannot be read with another SP's key", async () => {
    const walked = await signInAt(sealed, new Browser(), await sealed.redirectRequest(), ANNA);
    const stranger = await ServiceProvider.create({
      entityId: sealed.entityId,
      acsUrl: sealed.acsUrl,
      encryption: true,
    });
    await stranger.connect(sealed.idp);
    await expect(
      stranger.validateResponse(walked.post.fields as { SAMLResponse: string }, { unsolicited: true }),
    ).rejects.toThrow();
  });

  it('sends the assertion unencrypted when the SP is configured so, even with an encryption certificate', async () => {
    const result = await signIn(optedOut);
    expect(result.encrypted).toBe(false);
    expect(result.attributes.email).toEqual(['anna@example.org']);
  });
});
