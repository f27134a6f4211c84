import { DOMParser } from '@xmldom/xmldom';

export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  metadata: 'urn:oasis:names:tc:SAML:2.0:metadata',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
} as const;

export class XmlError extends Error {
  override readonly name = 'XmlError';
  constructor(
    readonly code: 'dtd_not_allowed' | 'invalid_xml',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parses XML that comes from outside. A document type declaration is refused before parsing: SAML never needs one,
 * and it is how external entities (XXE) and entity expansion (billion laughs) get in.
 */
export function parseXml(text: string): Document {
  if (/<!DOCTYPE|<!ENTITY/i.test(text))
    throw new XmlError('dtd_not_allowed', 'XML with a DTD is not accepted');
  const fail = (message: string) => {
    throw new XmlError('invalid_xml', message);
  };
  let doc: Document;
  try {
    // Strict: anything the parser would repair (a mismatched end tag, an unquoted attribute) is refused.
    doc = new DOMParser({
      errorHandler: (_level: string, message: unknown) => fail(String(message)),
    }).parseFromString(text, 'text/xml');
  } catch (err) {
    if (err instanceof XmlError) throw err;
    throw new XmlError('invalid_xml', (err as Error).message);
  }
  if (!doc?.documentElement) fail('no root element');
  return doc;
}

/** The element children of `parent` with a namespace and local name. */
export function children(parent: Element, ns: string, localName: string): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === 1) {
      const el = node as Element;
      if (el.namespaceURI === ns && el.localName === localName) found.push(el);
    }
  }
  return found;
}

/** The one child of that name, or undefined when there is none; more than one is an error. */
export function onlyChild(parent: Element, ns: string, localName: string): Element | undefined {
  const found = children(parent, ns, localName);
  if (found.length > 1) throw new XmlError('invalid_xml', `more than one ${localName}`);
  return found[0];
}

export function text(el: Element | undefined): string | undefined {
  const value = el?.textContent?.trim();
  return value ? value : undefined;
}

export function attribute(el: Element, name: string): string | undefined {
  return el.hasAttribute(name) ? el.getAttribute(name)! : undefined;
}
