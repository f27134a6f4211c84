import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLoginResponse, NAME_ID_URNS, type Signer } from '../../../src/saml/idp.js';
import { NS, parseXml } from '../../../src/saml/xml.js';
import { ACS, IDP, serviceProvider, testSigner } from './fixtures.js';

describe('the login response', () => {
  let signer: Signer;
  let cleanup: () => void;
  beforeAll(async () => ({ signer, cleanup } = await testSigner()));
  afterAll(() => cleanup());

  async function build(attributes: { name: string; values: string[] }[], nameId = 'opaque-id') {
    const { xml } = await buildLoginResponse({
      idp: IDP,
      signer,
      sp: serviceProvider(),
      acsUrl: ACS,
      inResponseTo: '_request1',
      nameId: { format: NAME_ID_URNS.persistent, value: nameId },
      sessionIndex: '_session1',
      authTime: 1_700_000_000,
      authnContextClassRef: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
      attributes,
      sign: { assertion: true, response: false },
      encrypt: false,
      now: Date.parse('2026-12-04T12:00:00Z'),
    });
    return xml;
  }

  it('escapes attribute values: markup in a value stays text and cannot add elements', async () => {
    const hostile = '</saml:AttributeValue><x>injected</x><saml:AttributeValue>';
    const quote = '" injected="1';
    const placeholder = '{ID} {Issuer}';
    const xml = await build([
      { name: 'name', values: [hostile] },
      { name: 'quote', values: [quote] },
      { name: 'groups', values: ['a & b', placeholder] },
    ]);
    const doc = parseXml(xml);
    expect(doc.getElementsByTagName('x')).toHaveLength(0);
    const values = Array.from(doc.getElementsByTagNameNS(NS.assertion, 'AttributeValue')).map(
      (v) => v.textContent,
    );
    expect(values).toEqual([hostile, quote, 'a & b', placeholder]);
    expect(doc.getElementsByTagNameNS(NS.assertion, 'Attribute')).toHaveLength(3);
  });

  it('escapes a NameID taken from the directory', async () => {
    const doc = parseXml(await build([], 'a<b>&"c'));
    expect(doc.getElementsByTagNameNS(NS.assertion, 'NameID')[0]!.textContent).toBe('a<b>&"c');
    expect(doc.getElementsByTagNameNS(NS.assertion, 'AttributeStatement')).toHaveLength(0);
  });

  it('says who, for whom, where and when: Issuer, Audience, Destination, Recipient, InResponseTo, time window', async () => {
    const doc = parseXml(await build([{ name: 'email', values: ['anna@example.org'] }]));
    const root = doc.documentElement!;
    const one = (name: string) => doc.getElementsByTagNameNS(NS.assertion, name)[0]!;
    expect(root.getAttribute('Destination')).toBe(ACS);
    expect(root.getAttribute('InResponseTo')).toBe('_request1');
    expect(one('Issuer').textContent).toBe(IDP.entityId);
    expect(one('Audience').textContent).toBe('https://sp.example.test/saml');
    expect(one('SubjectConfirmationData').getAttribute('Recipient')).toBe(ACS);
    expect(one('Conditions').getAttribute('NotBefore')).toBe('2026-12-04T11:59:00.000Z');
    expect(one('Conditions').getAttribute('NotOnOrAfter')).toBe('2026-12-04T12:05:00.000Z');
    expect(one('AuthnStatement').getAttribute('AuthnInstant')).toBe(
      new Date(1_700_000_000_000).toISOString(),
    );
    expect(one('AuthnStatement').getAttribute('SessionIndex')).toBe('_session1');
  });

  it('signs the assertion with RSA-SHA256 and exclusive c14n by the active certificate', async () => {
    const doc = parseXml(await build([]));
    const signatures = Array.from(doc.getElementsByTagNameNS(NS.dsig, 'Signature'));
    expect(signatures).toHaveLength(1);
    expect((signatures[0]!.parentNode as Element).localName).toBe('Assertion');
    const method = doc.getElementsByTagNameNS(NS.dsig, 'SignatureMethod')[0]!.getAttribute('Algorithm');
    expect(method).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    const c14n = doc.getElementsByTagNameNS(NS.dsig, 'CanonicalizationMethod')[0]!.getAttribute('Algorithm');
    expect(c14n).toBe('http://www.w3.org/2001/10/xml-exc-c14n#');
    const embedded = doc.getElementsByTagNameNS(NS.dsig, 'X509Certificate')[0]!.textContent!;
    const active = new crypto.X509Certificate(signer.certificate.certificate);
    expect(Buffer.from(embedded, 'base64').equals(active.raw)).toBe(true);
  });
});
