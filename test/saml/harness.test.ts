import { createVerify } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  deflateBase64,
  deflateBomb,
  paddedRequest,
  signPostMessage,
  tamperAttribute,
  withEntityExpansion,
  withExternalEntity,
  wrapSignedRequest,
} from '../helpers/saml-attacks.js';
import { readSamlPost } from '../helpers/saml-browser.js';
import { sameCertificate, selfSignedCertificate } from '../helpers/saml-keys.js';
import { ServiceProvider, type IdpMetadata } from '../helpers/saml-sp.js';
import { children, elements, NAMEID_FORMAT, NS, parseXml, serializeXml } from '../helpers/saml-xml.js';
import { xmlsecBinary, xmlsecVerify } from '../helpers/xmlsec.js';

/**
 * The test side's own tools, checked without an IdP: the service provider's metadata and requests are what
 * SAML says, xmlsec1 verifies what it should and refuses what it should, and each attack builder builds the
 * attack it claims. The integration tests rely on all of these.
 */
describe('SAML test harness', () => {
  let signer: ServiceProvider;
  let plain: ServiceProvider;
  const idp: IdpMetadata = {
    xml: '',
    entityId: 'http://localhost:1/saml/metadata',
    signingCertificates: [],
    sso: { redirect: 'http://localhost:1/saml/sso', post: 'http://localhost:1/saml/sso' },
    slo: { redirect: 'http://localhost:1/saml/slo', post: 'http://localhost:1/saml/slo' },
    wantAuthnRequestsSigned: false,
    nameIdFormats: [],
  };

  beforeAll(async () => {
    xmlsecBinary();
    idp.signingCertificates = [(await selfSignedCertificate('idp')).certificate];
    signer = await ServiceProvider.create({
      entityId: 'https://signer.example.test/sp',
      signRequests: true,
      encryption: true,
    });
    plain = await ServiceProvider.create({
      entityId: 'https://plain.example.test/sp',
      nameIdFormat: 'emailAddress',
    });
    await signer.connect(idp);
    await plain.connect(idp);
  }, 120_000);

  it('writes SP metadata with the ACS, SLO, signing and encryption certificates', () => {
    const doc = parseXml(signer.metadata);
    expect(doc.documentElement.getAttribute('entityID')).toBe('https://signer.example.test/sp');
    const sp = elements(doc, NS.metadata, 'SPSSODescriptor')[0]!;
    expect(sp.getAttribute('AuthnRequestsSigned')).toBe('true');
    expect(sp.getAttribute('WantAssertionsSigned')).toBe('true');
    const acs = children(sp, NS.metadata, 'AssertionConsumerService')[0]!;
    expect(acs.getAttribute('Location')).toBe(signer.acsUrl);
    expect(acs.getAttribute('Binding')).toBe('urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST');
    expect(children(sp, NS.metadata, 'SingleLogoutService')[0]!.getAttribute('Location')).toBe(signer.sloUrl);
    const keys = children(sp, NS.metadata, 'KeyDescriptor');
    const cert = (use: string) =>
      elements(
        keys.find((k) => k.getAttribute('use') === use)!,
        NS.dsig,
        'X509Certificate',
      )[0]!.textContent!;
    expect(sameCertificate(cert('signing'), signer.signing!.certificate)).toBe(true);
    expect(sameCertificate(cert('encryption'), signer.encryption!.certificate)).toBe(true);
    expect(children(sp, NS.metadata, 'NameIDFormat')[0]!.textContent).toBe(NAMEID_FORMAT.persistent);

    const plainSp = elements(parseXml(plain.metadata), NS.metadata, 'SPSSODescriptor')[0]!;
    expect(plainSp.getAttribute('AuthnRequestsSigned')).toBe('false');
    expect(children(plainSp, NS.metadata, 'KeyDescriptor')).toHaveLength(0);
    expect(children(plainSp, NS.metadata, 'NameIDFormat')[0]!.textContent).toBe(NAMEID_FORMAT.emailAddress);
  });

  it('builds a Redirect-binding AuthnRequest signed over the query string', async () => {
    const request = await signer.redirectRequest({ relayState: 'state-1', forceAuthn: true });
    const url = new URL(request.url);
    expect(url.origin + url.pathname).toBe(idp.sso.redirect);
    expect(url.searchParams.get('RelayState')).toBe('state-1');
    expect(url.searchParams.get('SigAlg')).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    const root = parseXml(request.xml).documentElement;
    expect(root.localName).toBe('AuthnRequest');
    expect(root.getAttribute('ID')).toBe(request.id);
    expect(root.getAttribute('Destination')).toBe(idp.sso.redirect);
    expect(root.getAttribute('AssertionConsumerServiceURL')).toBe(signer.acsUrl);
    expect(root.getAttribute('ForceAuthn')).toBe('true');
    expect(children(root, NS.assertion, 'Issuer')[0]!.textContent).toBe(signer.entityId);
    expect(children(root, NS.dsig, 'Signature')).toHaveLength(0);
    // The signature covers SAMLRequest, RelayState and SigAlg exactly as they are encoded in the query.
    const raw = url.search.slice(1).split('&');
    const part = (name: string) => raw.find((p) => p.startsWith(`${name}=`))!;
    const signed = [part('SAMLRequest'), part('RelayState'), part('SigAlg')].join('&');
    const verify = createVerify('RSA-SHA256').update(signed);
    expect(verify.verify(signer.signing!.certificate, url.searchParams.get('Signature')!, 'base64')).toBe(
      true,
    );
  });

  it('builds an unsigned request for an SP without a key, with RequestedAuthnContext and IsPassive when asked', async () => {
    const request = await plain.redirectRequest({
      passive: true,
      authnContext: ['urn:example:mfa'],
      comparison: 'minimum',
    });
    const url = new URL(request.url);
    expect(url.searchParams.has('Signature')).toBe(false);
    const root = parseXml(request.xml).documentElement;
    expect(root.getAttribute('IsPassive')).toBe('true');
    const requested = children(root, NS.protocol, 'RequestedAuthnContext')[0]!;
    expect(requested.getAttribute('Comparison')).toBe('minimum');
    expect(children(requested, NS.assertion, 'AuthnContextClassRef')[0]!.textContent).toBe('urn:example:mfa');
    expect(children(root, NS.protocol, 'NameIDPolicy')[0]!.getAttribute('Format')).toBe(
      NAMEID_FORMAT.emailAddress,
    );
    const without = parseXml((await plain.redirectRequest()).xml).documentElement;
    expect(children(without, NS.protocol, 'RequestedAuthnContext')).toHaveLength(0);
    expect(without.getAttribute('IsPassive')).toBeFalsy();
  });

  it('builds a POST-binding AuthnRequest, not deflated, whose enveloped signature xmlsec1 verifies', async () => {
    const request = await signer.postRequest({ relayState: 'rs' });
    expect(request.fields.RelayState).toBe('rs');
    expect(Buffer.from(request.fields.SAMLRequest!, 'base64').toString('utf8')).toBe(request.xml);
    const result = await xmlsecVerify(request.xml, signer.signing!.certificate, 'AuthnRequest');
    expect(result.output).toMatch(/OK/);
    expect(result.ok).toBe(true);
    // the wrong certificate, and a changed attribute, are refused
    expect((await xmlsecVerify(request.xml, idp.signingCertificates[0]!, 'AuthnRequest')).ok).toBe(false);
    const tampered = tamperAttribute(request.xml, 'AssertionConsumerServiceURL', 'https://evil.example/acs');
    expect(tampered).toContain('https://evil.example/acs');
    expect((await xmlsecVerify(tampered, signer.signing!.certificate, 'AuthnRequest')).ok).toBe(false);
  });

  it('refuses, in xmlsec1, an element whose signature is missing even when another element is signed', async () => {
    const request = await signer.postRequest();
    const wrapped = wrapSignedRequest(request.xml, {
      AssertionConsumerServiceURL: 'https://evil.example/acs',
    });
    const result = await xmlsecVerify(wrapped, signer.signing!.certificate, 'AuthnRequest');
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/0 signatures/);
  });

  it('wraps a signed request in an unsigned one whose fields the attacker chose', async () => {
    const request = await signer.postRequest();
    const wrapped = wrapSignedRequest(request.xml, {
      AssertionConsumerServiceURL: 'https://evil.example/acs',
      ForceAuthn: 'false',
    });
    const outer = parseXml(wrapped).documentElement;
    expect(outer.localName).toBe('AuthnRequest');
    expect(outer.getAttribute('ID')).not.toBe(request.id);
    expect(outer.getAttribute('AssertionConsumerServiceURL')).toBe('https://evil.example/acs');
    expect(children(outer, NS.dsig, 'Signature')).toHaveLength(0);
    const inner = children(children(outer, NS.protocol, 'Extensions')[0]!, NS.protocol, 'AuthnRequest')[0]!;
    expect(inner.getAttribute('ID')).toBe(request.id);
    expect(inner.getAttribute('AssertionConsumerServiceURL')).toBe(signer.acsUrl);
    // the genuine signature still verifies where it now sits: a verifier must look at the root, not anywhere
    const innerXml = serializeXml(inner);
    expect((await xmlsecVerify(innerXml, signer.signing!.certificate, 'AuthnRequest')).ok).toBe(true);

    const atRoot = wrapSignedRequest(request.xml, { ID: '_evil' }, { signatureAtRoot: true });
    const root = parseXml(atRoot).documentElement;
    expect(root.getAttribute('ID')).toBe('_evil');
    const signature = children(root, NS.dsig, 'Signature')[0]!;
    expect(elements(signature, NS.dsig, 'Reference')[0]!.getAttribute('URI')).toBe(`#${request.id}`);
    expect((await xmlsecVerify(atRoot, signer.signing!.certificate, 'AuthnRequest')).output).toMatch(
      /does not reference its ID/,
    );
  });

  it('signs a LogoutRequest for the POST binding', async () => {
    const { xml } = await signer.logoutRequest({
      nameId: 'abc',
      nameIdFormat: NAMEID_FORMAT.persistent,
      sessionIndex: '_s1',
    });
    const signed = signPostMessage(xml, signer.signing!.privateKey, signer.signing!.certificate);
    expect(parseXml(signed).documentElement.localName).toBe('LogoutRequest');
    expect((await xmlsecVerify(signed, signer.signing!.certificate, 'LogoutRequest')).ok).toBe(true);
  });

  it('builds XXE, entity expansion, padded and deflate-bomb payloads', async () => {
    const { xml } = await plain.redirectRequest();
    const xxe = withExternalEntity(xml, 'file:///etc/passwd');
    expect(xxe).toMatch(/<!DOCTYPE samlp:AuthnRequest \[\s*<!ENTITY xxe SYSTEM "file:\/\/\/etc\/passwd">/);
    expect(xxe).toMatch(/<saml:Issuer[^>]*>https:\/\/plain\.example\.test\/sp&xxe;<\/saml:Issuer>/);
    const laughs = withEntityExpansion(xml);
    expect(laughs).toContain('<!ENTITY lol9 "&lol8;&lol8;');
    expect(laughs).toContain('&lol9;</saml:Issuer>');

    const padded = paddedRequest(xml, 5_000_000);
    expect(padded.length).toBeGreaterThan(5_000_000);
    expect(parseXml(padded.toString('utf8')).documentElement.getAttribute('ID')).toBe(
      parseXml(xml).documentElement.getAttribute('ID'),
    );
    const onTheWire = deflateBase64(padded);
    expect(onTheWire.length).toBeLessThan(12_000);

    const bomb = deflateBomb(50 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(80_000);
    expect(inflateRawSync(Buffer.from(bomb, 'base64')).length).toBe(50 * 1024 * 1024);
  });

  it('publishes extra ACS endpoints by index and asks for one by index, or for none', async () => {
    const multi = await ServiceProvider.create({
      entityId: 'https://multi.example.test/sp',
      extraAcsUrls: ['http://127.0.0.1:9/multi/acs-2'],
    });
    await multi.connect(idp);
    const sp = elements(parseXml(multi.metadata), NS.metadata, 'SPSSODescriptor')[0]!;
    const acs = children(sp, NS.metadata, 'AssertionConsumerService').map((a) => [
      a.getAttribute('index'),
      a.getAttribute('Location'),
    ]);
    expect(acs).toEqual([
      ['1', multi.acsUrl],
      ['2', 'http://127.0.0.1:9/multi/acs-2'],
    ]);
    const byIndex = parseXml((await multi.redirectRequest({ acsIndex: 2 })).xml).documentElement;
    expect(byIndex.getAttribute('AssertionConsumerServiceIndex')).toBe('2');
    expect(byIndex.getAttribute('AssertionConsumerServiceURL')).toBeFalsy();
    const neither = parseXml((await multi.redirectRequest({ acsIndex: null })).xml).documentElement;
    expect(neither.getAttribute('AssertionConsumerServiceIndex')).toBeFalsy();
    expect(neither.getAttribute('AssertionConsumerServiceURL')).toBeFalsy();
    await expect(signer.redirectRequest({ acsIndex: 1 })).rejects.toThrow(/unsigned/);
  });

  it('finds the auto-submit form and its SAMLResponse on a page', () => {
    const page = {
      url: 'http://localhost:1/saml/sso',
      status: 200,
      headers: new Headers(),
      body:
        '<html><body><form id="lang" method="post" action="/lang"><input name="lang" value="nl"></form>' +
        '<form method="post" action="https://sp.example/acs?a=1&amp;b=2"><input type="hidden" name="SAMLResponse" value="PHg+"/>' +
        '<input type="hidden" name="RelayState" value="a&amp;b"/></form></body></html>',
    };
    expect(readSamlPost(page)).toMatchObject({
      action: 'https://sp.example/acs?a=1&b=2',
      method: 'post',
      SAMLResponse: 'PHg+',
      RelayState: 'a&b',
    });
    expect(
      readSamlPost({ ...page, body: '<form action="/x"><input name="username"></form>' }),
    ).toBeUndefined();
  });
});
