import crypto from 'node:crypto';
import { attribute, children, NS, onlyChild, parseXml, text, XmlError } from './xml.js';

export const BINDINGS = {
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
} as const;

export interface Endpoint {
  binding: string;
  location: string;
  index?: number;
  isDefault?: boolean;
  responseLocation?: string;
}

/** What Poort reads from a service provider's metadata; every endpoint and key comes from here, never a request. */
export interface SpMetadata {
  entityId: string;
  assertionConsumerServices: Endpoint[];
  singleLogoutServices: Endpoint[];
  /** PEM certificates */
  signingCertificates: string[];
  encryptionCertificates: string[];
  authnRequestsSigned: boolean;
  wantAssertionsSigned: boolean;
}

export class MetadataError extends Error {
  override readonly name = 'MetadataError';
}

/** The longest metadata document accepted: far above real ones (a few KiB), far below a memory problem. */
export const MAX_METADATA_BYTES = 512 * 1024;

function pem(body: string): string {
  const clean = body.replace(/\s+/g, '');
  const lines = clean.match(/.{1,64}/g) ?? [];
  const certificate = `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
  try {
    new crypto.X509Certificate(certificate);
  } catch {
    throw new MetadataError('a KeyDescriptor holds something that is not an X.509 certificate');
  }
  return certificate;
}

function httpUrl(value: string | undefined, what: string): string {
  const url = value ? URL.parse(value) : null;
  if (!url || !/^https?:$/.test(url.protocol))
    throw new MetadataError(`${what}: "${value ?? ''}" is not an http(s) URL`);
  return value!;
}

/**
 * Reads an SP's metadata: one EntityDescriptor with an SPSSODescriptor for SAML 2.0. Refuses what cannot be used:
 * no HTTP-POST assertion consumer service (the only binding Poort answers on), or endpoints that are not http(s).
 */
export function parseSpMetadata(xml: string): SpMetadata {
  if (Buffer.byteLength(xml) > MAX_METADATA_BYTES)
    throw new MetadataError('the metadata is larger than 512 KiB');
  let root;
  try {
    root = parseXml(xml).documentElement!;
  } catch (err) {
    if (err instanceof XmlError) throw new MetadataError(`the metadata is not usable XML: ${err.message}`);
    throw err;
  }
  if (root.namespaceURI !== NS.metadata || root.localName !== 'EntityDescriptor')
    throw new MetadataError(
      'expected one md:EntityDescriptor (an EntitiesDescriptor holds several; give one SP)',
    );
  const entityId = attribute(root, 'entityID')?.trim();
  if (!entityId || entityId.length > 1024) throw new MetadataError('the EntityDescriptor has no entityID');
  const descriptors = children(root, NS.metadata, 'SPSSODescriptor');
  if (descriptors.length !== 1) throw new MetadataError('expected exactly one SPSSODescriptor');
  const sp = descriptors[0]!;
  if (!(attribute(sp, 'protocolSupportEnumeration') ?? '').split(/\s+/).includes(NS.protocol))
    throw new MetadataError('the SPSSODescriptor does not support SAML 2.0');

  const signing: string[] = [];
  const encryption: string[] = [];
  for (const key of children(sp, NS.metadata, 'KeyDescriptor')) {
    const use = attribute(key, 'use');
    const info = onlyChild(key, NS.dsig, 'KeyInfo');
    const data = info ? children(info, NS.dsig, 'X509Data') : [];
    for (const d of data) {
      for (const c of children(d, NS.dsig, 'X509Certificate')) {
        const certificate = pem(text(c) ?? '');
        if (use === undefined || use === 'signing') signing.push(certificate);
        if (use === undefined || use === 'encryption') encryption.push(certificate);
      }
    }
  }

  const endpoints = (name: string, indexed: boolean): Endpoint[] =>
    children(sp, NS.metadata, name).map((el) => {
      const binding = attribute(el, 'Binding') ?? '';
      const endpoint: Endpoint = {
        binding,
        location: httpUrl(attribute(el, 'Location'), `${name} Location`),
      };
      const responseLocation = attribute(el, 'ResponseLocation');
      if (responseLocation) endpoint.responseLocation = httpUrl(responseLocation, `${name} ResponseLocation`);
      if (indexed) {
        const index = attribute(el, 'index');
        if (index === undefined || !/^\d{1,5}$/.test(index))
          throw new MetadataError(`${name} needs an index`);
        endpoint.index = Number(index);
        if (attribute(el, 'isDefault') === 'true') endpoint.isDefault = true;
      }
      return endpoint;
    });
  const acs = endpoints('AssertionConsumerService', true);
  if (!acs.some((e) => e.binding === BINDINGS.post))
    throw new MetadataError('the SP has no AssertionConsumerService with the HTTP-POST binding');
  return {
    entityId,
    assertionConsumerServices: acs,
    singleLogoutServices: endpoints('SingleLogoutService', false).filter(
      (e) => e.binding === BINDINGS.post || e.binding === BINDINGS.redirect,
    ),
    signingCertificates: signing,
    encryptionCertificates: encryption,
    authnRequestsSigned: attribute(sp, 'AuthnRequestsSigned') === 'true',
    wantAssertionsSigned: attribute(sp, 'WantAssertionsSigned') === 'true',
  };
}

/** The HTTP-POST assertion consumer service used when a request names none: the default, else the lowest index. */
export function defaultAcs(metadata: SpMetadata): Endpoint {
  const post = metadata.assertionConsumerServices.filter((e) => e.binding === BINDINGS.post);
  return post.find((e) => e.isDefault) ?? [...post].sort((a, b) => (a.index ?? 0) - (b.index ?? 0))[0]!;
}

/** Where to send a logout message for this SP: HTTP-POST preferred, then HTTP-Redirect. */
export function logoutEndpoint(metadata: SpMetadata): Endpoint | undefined {
  return (
    metadata.singleLogoutServices.find((e) => e.binding === BINDINGS.post) ??
    metadata.singleLogoutServices.find((e) => e.binding === BINDINGS.redirect)
  );
}
