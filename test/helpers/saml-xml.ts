import { inflateRawSync } from 'node:zlib';
import { createRequire } from 'node:module';

/*
 * The few DOM types the helpers use. @xmldom/xmldom (node-saml's own parser) is loaded untyped: its typings pull
 * the whole browser DOM library into the project, which changes the types of Node's fetch for every file.
 */
export interface XNode {
  nodeType: number;
  parentNode: XNode | null;
  firstChild: XNode | null;
  nextSibling: XNode | null;
  childNodes: ArrayLike<XNode>;
  textContent: string | null;
  appendChild(node: XNode): XNode;
  removeChild(node: XNode): XNode;
  insertBefore(node: XNode, before: XNode | null): XNode;
}
export interface XElement extends XNode {
  localName: string;
  namespaceURI: string | null;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  removeAttribute(name: string): void;
  getElementsByTagNameNS(ns: string, name: string): ArrayLike<XElement>;
}
export interface XDocument extends XNode {
  documentElement: XElement;
  getElementsByTagNameNS(ns: string, name: string): ArrayLike<XElement>;
  importNode(node: XNode, deep: boolean): XNode;
  createElementNS(ns: string, qualifiedName: string): XElement;
}
interface ErrorHandler {
  warning(msg: string): void;
  error(msg: string): void;
  fatalError(msg: string): void;
}
const xmldom = createRequire(import.meta.url)('@xmldom/xmldom') as {
  DOMParser: new (options: { errorHandler: ErrorHandler }) => {
    parseFromString(xml: string, mimeType: string): XDocument | undefined;
  };
  XMLSerializer: new () => { serializeToString(node: XNode): string };
};

export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  metadata: 'urn:oasis:names:tc:SAML:2.0:metadata',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
  xmlenc: 'http://www.w3.org/2001/04/xmlenc#',
} as const;

export const BINDING = {
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
} as const;

export const NAMEID_FORMAT = {
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  emailAddress: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
} as const;
export type NameIdFormatName = 'persistent' | 'emailAddress' | 'unspecified';

export const STATUS = {
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  responder: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
  noPassive: 'urn:oasis:names:tc:SAML:2.0:status:NoPassive',
  noAuthnContext: 'urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext',
} as const;

/** Parses XML strictly: any warning-free parse error throws, as a careful service provider would. */
export function parseXml(xml: string): XDocument {
  const errors: string[] = [];
  const doc = new xmldom.DOMParser({
    errorHandler: {
      warning: () => {},
      error: (msg: string) => errors.push(msg),
      fatalError: (msg: string) => errors.push(msg),
    },
  }).parseFromString(xml, 'text/xml');
  if (errors.length > 0 || !doc?.documentElement) throw new Error(`invalid XML: ${errors.join('; ')}`);
  return doc;
}

export function serializeXml(node: XNode): string {
  return new xmldom.XMLSerializer().serializeToString(node);
}

/** Elements by namespace and local name anywhere under `node`. */
export function elements(node: XDocument | XElement, ns: string, name: string): XElement[] {
  return Array.from(node.getElementsByTagNameNS(ns, name));
}

/** The direct child elements of `parent` with this namespace and local name. */
export function children(parent: XElement, ns: string, name: string): XElement[] {
  return Array.from(parent.childNodes).filter(
    (n): n is XElement =>
      n.nodeType === 1 && (n as XElement).namespaceURI === ns && (n as XElement).localName === name,
  );
}

export function firstText(node: XDocument | XElement, ns: string, name: string): string | undefined {
  return elements(node, ns, name)[0]?.textContent?.trim() ?? undefined;
}

/** The XML of a SAMLRequest/SAMLResponse: base64, and for the Redirect binding also deflated. */
export function decodeSamlMessage(value: string, binding: 'redirect' | 'post'): string {
  const bytes = Buffer.from(value, 'base64');
  return (binding === 'redirect' ? inflateRawSync(bytes) : bytes).toString('utf8');
}

/** The status of a SAML Response or LogoutResponse. */
export function readStatus(xml: string): { code?: string; subCode?: string; message?: string } {
  const doc = parseXml(xml);
  const codes = elements(doc, NS.protocol, 'StatusCode');
  return {
    code: codes[0]?.getAttribute('Value') || undefined,
    subCode: codes[1]?.getAttribute('Value') || undefined,
    message: firstText(doc, NS.protocol, 'StatusMessage'),
  };
}
