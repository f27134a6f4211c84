import * as xmllint from '@authenio/samlify-node-xmllint';
import * as samlify from 'samlify';
import { beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCertificate, type KeyAndCertificate } from '../helpers/saml-keys.js';
import { parseIdpMetadata, ServiceProvider } from '../helpers/saml-sp.js';
import { xmlsecVerify } from '../helpers/xmlsec.js';

samlify.setSchemaValidator(xmllint);

/**
 * The service provider harness against a stand-in IdP made with samlify directly (not Poort): what it accepts
 * and — more to the point — what it refuses, so a failing Poort test points at Poort, not at the harness.
 */
describe('the SAML SP harness against a stand-in IdP', { timeout: 60_000 }, () => {
  let idpKeys: KeyAndCertificate;
  let otherKeys: KeyAndCertificate;
  let sp: ServiceProvider;
  let sealed: ServiceProvider;
  const entityId = 'https://stand-in.example.test/idp';

  const standIn = (keys: KeyAndCertificate, options: { encrypt?: boolean } = {}) =>
    samlify.IdentityProvider({
      entityID: entityId,
      privateKey: keys.privateKey,
      signingCert: keys.certificate,
      isAssertionEncrypted: options.encrypt ?? false,
      nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
      singleSignOnService: [
        { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: 'http://127.0.0.1:9/sso' },
      ],
      singleLogoutService: [
        { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: 'http://127.0.0.1:9/slo' },
      ],
    });

  /** A login response from the stand-in for `target`, to the request with `inResponseTo`. */
  async function respond(
    target: ServiceProvider,
    inResponseTo: string,
    options: { keys?: KeyAndCertificate; signResponse?: boolean; encrypt?: boolean } = {},
  ): Promise<string> {
    const idp = standIn(options.keys ?? idpKeys, { encrypt: options.encrypt });
    const entity = samlify.ServiceProvider({
      metadata: target.metadata,
      wantMessageSigned: options.signResponse ?? false,
    });
    const { context } = (await idp.createLoginResponse(
      entity,
      { extract: { request: { id: inResponseTo } } },
      'post',
      { email: 'anna@example.org' },
    )) as { context: string };
    return context;
  }

  beforeAll(async () => {
    idpKeys = await selfSignedCertificate('stand-in idp');
    otherKeys = await selfSignedCertificate('someone else');
    sp = await ServiceProvider.create({
      entityId: 'https://harness.example.test/sp',
      nameIdFormat: 'emailAddress',
    });
    sealed = await ServiceProvider.create({
      entityId: 'https://sealed-harness.example.test/sp',
      nameIdFormat: 'emailAddress',
      encryption: true,
    });
    const metadata = parseIdpMetadata(standIn(idpKeys).getMetadata());
    expect(metadata.entityId).toBe(entityId);
    expect(metadata.sso.redirect).toBe('http://127.0.0.1:9/sso');
    await sp.connect(metadata);
    await sealed.connect(metadata);
  }, 120_000);

  it('accepts a signed response to its own request and reports what it holds', async () => {
    const request = await sp.redirectRequest();
    const SAMLResponse = await respond(sp, request.id, { signResponse: true });
    const result = await sp.validateResponse({ SAMLResponse, RelayState: 'r' }, { responseSigned: true });
    expect(result).toMatchObject({
      inResponseTo: request.id,
      relayState: 'r',
      nameId: 'anna@example.org',
      audiences: [sp.entityId],
      recipient: sp.acsUrl,
      encrypted: false,
      responseSigned: true,
    });
    expect((await xmlsecVerify(result.responseXml, idpKeys.certificate, 'Response')).ok).toBe(true);
    expect((await xmlsecVerify(result.responseXml, idpKeys.certificate, 'Assertion')).ok).toBe(true);
    expect((await xmlsecVerify(result.responseXml, otherKeys.certificate, 'Assertion')).ok).toBe(false);
  });

  it('accepts a response only once, and only to a request it sent', async () => {
    const request = await sp.redirectRequest();
    const SAMLResponse = await respond(sp, request.id);
    await sp.validateResponse({ SAMLResponse });
    await expect(sp.validateResponse({ SAMLResponse })).rejects.toThrow(/InResponseTo/);
    await expect(sp.validateResponse({ SAMLResponse: await respond(sp, '_never-sent') })).rejects.toThrow(
      /InResponseTo/,
    );
  });

  it('refuses a response signed by another key', async () => {
    const request = await sp.redirectRequest();
    const SAMLResponse = await respond(sp, request.id, { keys: otherKeys });
    await expect(sp.validateResponse({ SAMLResponse })).rejects.toThrow(/signature/i);
  });

  it('refuses an unsigned response when it wants the response signed', async () => {
    const request = await sp.redirectRequest();
    const SAMLResponse = await respond(sp, request.id);
    await expect(sp.validateResponse({ SAMLResponse }, { responseSigned: true })).rejects.toThrow(
      /signature/i,
    );
  });

  it("refuses a response meant for another SP's ACS and audience", async () => {
    const request = await sp.redirectRequest();
    const forOther = await respond(sealed, request.id);
    await expect(sp.validateResponse({ SAMLResponse: forOther })).rejects.toThrow(
      /audience|Destination|decrypt/i,
    );
  });

  it('refuses an altered Destination even when the assertion is signed', async () => {
    const request = await sp.redirectRequest();
    const xml = Buffer.from(await respond(sp, request.id), 'base64').toString('utf8');
    const moved = xml.replace(`Destination="${sp.acsUrl}"`, 'Destination="https://elsewhere.example/acs"');
    expect(moved).not.toBe(xml);
    await expect(
      sp.validateResponse({ SAMLResponse: Buffer.from(moved).toString('base64') }),
    ).rejects.toThrow(/Destination/);
  });

  it('decrypts an encrypted assertion with its own key and checks its signature', async () => {
    const request = await sealed.redirectRequest();
    const SAMLResponse = await respond(sealed, request.id, { encrypt: true });
    const result = await sealed.validateResponse({ SAMLResponse });
    expect(result.encrypted).toBe(true);
    expect(result.responseXml).not.toContain('anna@example.org');
    expect(result.nameId).toBe('anna@example.org');
    const checked = await xmlsecVerify(result.sentAssertionXml, idpKeys.certificate, 'Assertion');
    expect(checked.output).toMatch(/^OK$/m);
    expect(checked.ok).toBe(true);
  });
});
