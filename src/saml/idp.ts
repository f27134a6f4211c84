import crypto from 'node:crypto';
import zlib from 'node:zlib';
import * as xmllint from '@authenio/samlify-node-xmllint';
import samlifyModule from 'samlify';
import * as samlify from 'samlify';
import { certificateBody, type SamlCertificate } from '../keys/saml-certificates.js';
import type { ServiceProvider } from './service-providers.js';
import { BINDINGS } from './sp-metadata.js';

// Every message samlify reads is checked against the SAML schema first (no Java: xmllint compiled to WebAssembly).
samlify.setSchemaValidator(xmllint);

/** samlify's XML toolkit: templating with escaping, XML signatures, assertion encryption. */
export const samlLib = samlifyModule.SamlLib;

export const NAME_ID_URNS = {
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  emailAddress: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
} as const;

export const STATUS = {
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  responder: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
  noPassive: 'urn:oasis:names:tc:SAML:2.0:status:NoPassive',
  noAuthnContext: 'urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext',
  requestDenied: 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied',
  partialLogout: 'urn:oasis:names:tc:SAML:2.0:status:PartialLogout',
} as const;

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const AES_256_GCM = 'http://www.w3.org/2009/xmlenc11#aes256-gcm';
const RSA_OAEP = 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p';

/** Where the IdP lives: its entityID and endpoints, from the configuration and the issuer. */
export interface IdpEndpoints {
  entityId: string;
  metadataUrl: string;
  ssoUrl: string;
  sloUrl: string;
}

export function idpEndpoints(issuer: string, entityId: string | undefined): IdpEndpoints {
  const base = issuer.replace(/\/+$/, '');
  return {
    entityId: entityId ?? `${base}/saml/metadata`,
    metadataUrl: `${base}/saml/metadata`,
    ssoUrl: `${base}/saml/sso`,
    sloUrl: `${base}/saml/slo`,
  };
}

/** The IdP's metadata: every published signing certificate, both bindings of SSO and SLO, the NameID formats. */
export function idpMetadata(
  endpoints: IdpEndpoints,
  certificates: SamlCertificate[],
  wantSigned: boolean,
): string {
  const services = (url: string) => [
    { Binding: BINDINGS.redirect, Location: url },
    { Binding: BINDINGS.post, Location: url },
  ];
  return samlify
    .IdentityProvider({
      entityID: endpoints.entityId,
      signingCert: certificates.map((c) => certificateBody(c.certificate)),
      wantAuthnRequestsSigned: wantSigned,
      nameIDFormat: Object.values(NAME_ID_URNS),
      singleSignOnService: services(endpoints.ssoUrl),
      singleLogoutService: services(endpoints.sloUrl),
    })
    .getMetadata();
}

const spEntities = new WeakMap<ServiceProvider, samlify.ServiceProviderInstance>();

/** samlify's view of a service provider (its parsed metadata), made once per registry entry. */
export function spEntity(sp: ServiceProvider): samlify.ServiceProviderInstance {
  let entity = spEntities.get(sp);
  if (!entity) {
    entity = samlify.ServiceProvider({ metadata: sp.metadataXml });
    spEntities.set(sp, entity);
  }
  return entity;
}

const encryptionTargets = new WeakMap<ServiceProvider, samlify.ServiceProviderInstance>();

/**
 * The SP as samlify's encryption sees it: its first encryption certificate only (samlify cannot choose among several
 * in one metadata document).
 */
function encryptionTarget(sp: ServiceProvider): samlify.ServiceProviderInstance {
  let target = encryptionTargets.get(sp);
  if (!target) {
    const certificate = sp.metadata.encryptionCertificates[0];
    if (!certificate) throw new Error(`${sp.entityId} publishes no encryption certificate`);
    target = samlify.ServiceProvider({
      entityID: sp.entityId,
      encryptCert: certificateBody(certificate),
      assertionConsumerService: sp.metadata.assertionConsumerServices
        .filter((e) => e.binding === BINDINGS.post)
        .map((e) => ({ Binding: e.binding, Location: e.location })),
    });
    encryptionTargets.set(sp, target);
  }
  return target;
}

/** The IdP as samlify's encryption sees it: AES-256-GCM content, RSA-OAEP key transport, nothing weaker. */
const encryptingIdp = samlify.IdentityProvider({
  entityID: 'urn:poort:saml:encryption',
  isAssertionEncrypted: true,
  singleSignOnService: [{ Binding: BINDINGS.post, Location: 'https://localhost/' }],
  singleLogoutService: [{ Binding: BINDINGS.post, Location: 'https://localhost/' }],
  // entity settings samlify reads but does not declare in its types
  ...{ dataEncryptionAlgorithm: AES_256_GCM, keyEncryptionAlgorithm: RSA_OAEP },
} as Parameters<typeof samlify.IdentityProvider>[0]);

/**
 * Fills a template with samlify's templating, which XML-escapes every value. Tags carry a random prefix per message:
 * a value (a display name, say) that happens to contain `{Tag}` cannot be mistaken for a placeholder.
 */
export class Template {
  readonly #prefix = `t${crypto.randomBytes(8).toString('hex')}`;
  readonly #values: Record<string, string | undefined> = {};
  #count = 0;

  /** A placeholder for a value; undefined drops the attribute or element it stands in. */
  tag(value: string | undefined): string {
    const name = `${this.#prefix}_${this.#count++}`;
    this.#values[name] = value;
    return `{${name}}`;
  }

  render(template: string): string {
    return samlLib.replaceTagsByValue(template, this.#values);
  }
}

export interface Signer {
  certificate: SamlCertificate;
}

function sign(xml: string, signer: Signer, target: 'Assertion' | 'message', root: string): string {
  const rootPath = `/*[local-name(.)='${root}']`;
  const assertionPath = `${rootPath}/*[local-name(.)='Assertion']`;
  return samlLib.constructSAMLSignature({
    rawSamlMessage: xml,
    ...(target === 'Assertion' ? { referenceTagXPath: assertionPath } : { isMessageSigned: true }),
    privateKey: signer.certificate.privateKey,
    signatureAlgorithm: RSA_SHA256,
    signingCert: certificateBody(signer.certificate.certificate),
    isBase64Output: false,
    signatureConfig: {
      prefix: 'ds',
      location: {
        reference: `${target === 'Assertion' ? assertionPath : rootPath}/*[local-name(.)='Issuer']`,
        action: 'after',
      },
    },
  }) as string;
}

export interface Attribute {
  name: string;
  values: string[];
}

export interface AssertionInput {
  idp: IdpEndpoints;
  signer: Signer;
  sp: ServiceProvider;
  acsUrl: string;
  inResponseTo?: string;
  nameId: { format: string; value: string };
  sessionIndex: string;
  /** epoch seconds of the sign-in */
  authTime: number;
  authnContextClassRef: string;
  attributes: Attribute[];
  sign: { assertion: boolean; response: boolean };
  encrypt: boolean;
  now?: number;
}

/** Conditions' window: a minute back for clocks behind, five minutes forward to deliver the response. */
const NOT_BEFORE_SKEW_MS = 60_000;
const VALIDITY_MS = 300_000;

const iso = (ms: number) => new Date(ms).toISOString();

/** A SAML ID: starts with a letter or underscore (xs:ID), 160 random bits. */
export function samlId(): string {
  return `_${crypto.randomBytes(20).toString('hex')}`;
}

/**
 * A successful Response with one assertion: signed (assertion and/or response, RSA-SHA256, exclusive c14n), the
 * assertion encrypted to the SP where asked — in that order, so that the response's signature covers the
 * encrypted assertion as sent. Returns the Response XML.
 */
export async function buildLoginResponse(input: AssertionInput): Promise<{ id: string; xml: string }> {
  const now = input.now ?? Date.now();
  const t = new Template();
  const attributes = input.attributes
    .filter((a) => a.values.length > 0)
    .map(
      (a) =>
        `<saml:Attribute Name="${t.tag(a.name)}" NameFormat="${t.tag(
          a.name.includes(':')
            ? 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri'
            : 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
        )}">${a.values.map((v) => `<saml:AttributeValue xsi:type="xs:string">${t.tag(v)}</saml:AttributeValue>`).join('')}</saml:Attribute>`,
    )
    .join('');
  const id = samlId();
  const issuer = t.tag(input.idp.entityId);
  const issueInstant = t.tag(iso(now));
  const inResponseTo = t.tag(input.inResponseTo);
  const template =
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${t.tag(id)}" Version="2.0" IssueInstant="${issueInstant}" Destination="${t.tag(input.acsUrl)}" InResponseTo="${inResponseTo}">` +
    `<saml:Issuer>${issuer}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${STATUS.success}"/></samlp:Status>` +
    `<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="${t.tag(samlId())}" Version="2.0" IssueInstant="${issueInstant}">` +
    `<saml:Issuer>${issuer}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="${t.tag(input.nameId.format)}">${t.tag(input.nameId.value)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${t.tag(iso(now + VALIDITY_MS))}" Recipient="${t.tag(input.acsUrl)}" InResponseTo="${inResponseTo}"/></saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${t.tag(iso(now - NOT_BEFORE_SKEW_MS))}" NotOnOrAfter="${t.tag(iso(now + VALIDITY_MS))}"><saml:AudienceRestriction><saml:Audience>${t.tag(input.sp.entityId)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${t.tag(iso(input.authTime * 1000))}" SessionIndex="${t.tag(input.sessionIndex)}"><saml:AuthnContext><saml:AuthnContextClassRef>${t.tag(input.authnContextClassRef)}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    (attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '') +
    `</saml:Assertion></samlp:Response>`;
  let xml = t.render(template);
  if (input.sign.assertion) xml = sign(xml, input.signer, 'Assertion', 'Response');
  if (input.encrypt) {
    const encrypted = await samlLib.encryptAssertion(encryptingIdp, encryptionTarget(input.sp), xml);
    xml = Buffer.from(encrypted, 'base64').toString('utf8');
  }
  if (input.sign.response) xml = sign(xml, input.signer, 'message', 'Response');
  return { id, xml };
}

/** A Response without an assertion: a SAML error status (top level and second level), always signed. */
export function buildStatusResponse(input: {
  idp: IdpEndpoints;
  signer: Signer;
  destination: string;
  inResponseTo?: string;
  status: string;
  subStatus?: string;
  now?: number;
}): { id: string; xml: string } {
  const t = new Template();
  const id = samlId();
  const second = input.subStatus ? `<samlp:StatusCode Value="${t.tag(input.subStatus)}"/>` : '';
  const xml = t.render(
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${t.tag(id)}" Version="2.0" IssueInstant="${t.tag(iso(input.now ?? Date.now()))}" Destination="${t.tag(input.destination)}" InResponseTo="${t.tag(input.inResponseTo)}">` +
      `<saml:Issuer>${t.tag(input.idp.entityId)}</saml:Issuer>` +
      `<samlp:Status><samlp:StatusCode Value="${t.tag(input.status)}">${second}</samlp:StatusCode></samlp:Status>` +
      `</samlp:Response>`,
  );
  return { id, xml: sign(xml, input.signer, 'message', 'Response') };
}

/** A LogoutResponse to an SP's LogoutRequest, signed. */
export function buildLogoutResponse(input: {
  idp: IdpEndpoints;
  signer: Signer;
  destination: string;
  inResponseTo: string;
  status: string;
}): { id: string; xml: string } {
  const t = new Template();
  const id = samlId();
  const xml = t.render(
    `<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${t.tag(id)}" Version="2.0" IssueInstant="${t.tag(iso(Date.now()))}" Destination="${t.tag(input.destination)}" InResponseTo="${t.tag(input.inResponseTo)}">` +
      `<saml:Issuer>${t.tag(input.idp.entityId)}</saml:Issuer>` +
      `<samlp:Status><samlp:StatusCode Value="${t.tag(input.status)}"/></samlp:Status>` +
      `</samlp:LogoutResponse>`,
  );
  return { id, xml: sign(xml, input.signer, 'message', 'LogoutResponse') };
}

/** A LogoutRequest from the IdP to an SP (a logout that began elsewhere), signed. */
export function buildLogoutRequest(input: {
  idp: IdpEndpoints;
  signer: Signer;
  destination: string;
  nameId: { format: string; value: string };
  sessionIndex: string;
}): { id: string; xml: string } {
  const t = new Template();
  const id = samlId();
  const xml = t.render(
    `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${t.tag(id)}" Version="2.0" IssueInstant="${t.tag(iso(Date.now()))}" Destination="${t.tag(input.destination)}">` +
      `<saml:Issuer>${t.tag(input.idp.entityId)}</saml:Issuer>` +
      `<saml:NameID Format="${t.tag(input.nameId.format)}">${t.tag(input.nameId.value)}</saml:NameID>` +
      `<samlp:SessionIndex>${t.tag(input.sessionIndex)}</samlp:SessionIndex>` +
      `</samlp:LogoutRequest>`,
  );
  return { id, xml: sign(xml, input.signer, 'message', 'LogoutRequest') };
}

/** For the HTTP-Redirect binding: the message DEFLATEd and signed over the query octets (SAML bindings 3.4.4.1). */
export function redirectUrl(
  endpoint: string,
  param: 'SAMLRequest' | 'SAMLResponse',
  xml: string,
  signer: Signer,
  relayState?: string,
): string {
  const octets = [
    `${param}=${encodeURIComponent(zlib.deflateRawSync(Buffer.from(xml)).toString('base64'))}`,
    ...(relayState ? [`RelayState=${encodeURIComponent(relayState)}`] : []),
    `SigAlg=${encodeURIComponent(RSA_SHA256)}`,
  ].join('&');
  const signature = crypto
    .sign('sha256', Buffer.from(octets), signer.certificate.privateKey)
    .toString('base64');
  return `${endpoint}${endpoint.includes('?') ? '&' : '?'}${octets}&Signature=${encodeURIComponent(signature)}`;
}
