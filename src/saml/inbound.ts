import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { validate as validateSchema } from '@authenio/samlify-node-xmllint';
import { samlLib, spEntity } from './idp.js';
import type { ServiceProvider } from './service-providers.js';
import { attribute, children, NS, onlyChild, parseXml, text, XmlError } from './xml.js';

/** The largest SAML message accepted, decoded and inflated: real requests are a few KiB. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** The largest encoded parameter accepted (base64 of the largest message). */
export const MAX_ENCODED_BYTES = Math.ceil((MAX_MESSAGE_BYTES * 4) / 3) + 4;

const SIG_ALGS: Record<string, string> = {
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': 'sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384': 'sha384',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': 'sha512',
};

/** Why a message was refused: the reason code of the audit event and of the 400 page. */
export type RefusalReason =
  | 'missing_message'
  | 'malformed_base64'
  | 'message_too_large'
  | 'inflate_failed'
  | 'dtd_not_allowed'
  | 'invalid_xml'
  | 'schema_invalid'
  | 'unexpected_message'
  | 'unknown_sp'
  | 'signature_required'
  | 'bad_signature'
  | 'unsupported_sig_alg'
  | 'signature_wrapping'
  | 'stale_request'
  | 'future_request'
  | 'replayed_request'
  | 'wrong_destination'
  | 'acs_not_in_metadata'
  | 'unsupported_binding'
  | 'relay_state_too_long'
  | 'unsolicited_response';

export class Refusal extends Error {
  override readonly name = 'Refusal';
  constructor(
    readonly reason: RefusalReason,
    message: string,
    /** the SP, when known: the audit event names it */
    readonly entityId?: string,
  ) {
    super(message);
  }
}

export type Binding = 'redirect' | 'post';

/** A message as it arrived: which binding, the encoded parameter, and for the redirect binding the signature parts. */
export interface RawMessage {
  binding: Binding;
  param: 'SAMLRequest' | 'SAMLResponse';
  encoded: string;
  relayState?: string;
  sigAlg?: string;
  signature?: string;
  /** the raw query string, to rebuild the signed octets exactly as sent */
  rawQuery?: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function decodeBase64(value: string): Buffer {
  const compact = value.replace(/[\r\n\t ]/g, '');
  if (compact.length > MAX_ENCODED_BYTES) throw new Refusal('message_too_large', 'the message is too large');
  if (!compact || compact.length % 4 !== 0 || !BASE64.test(compact))
    throw new Refusal('malformed_base64', 'the message is not base64');
  return Buffer.from(compact, 'base64');
}

/** The message's XML: base64 (and for the redirect binding DEFLATE), size-capped before and after inflating. */
export function decodeMessage(raw: RawMessage): string {
  const bytes = decodeBase64(raw.encoded);
  if (raw.binding === 'post') {
    if (bytes.length > MAX_MESSAGE_BYTES) throw new Refusal('message_too_large', 'the message is too large');
    return bytes.toString('utf8');
  }
  try {
    // maxOutputLength stops a deflate bomb before it is inflated, not after.
    return zlib.inflateRawSync(bytes, { maxOutputLength: MAX_MESSAGE_BYTES }).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new Refusal('message_too_large', 'the inflated message is too large');
    throw new Refusal('inflate_failed', 'the message is not DEFLATE-compressed');
  }
}

/** Parses and schema-validates a message; returns the root element. */
export async function parseMessage(xml: string, expected: readonly string[]): Promise<Element> {
  let root: Element;
  try {
    root = parseXml(xml).documentElement!;
  } catch (err) {
    if (err instanceof XmlError) throw new Refusal(err.code, err.message);
    throw err;
  }
  if (root.namespaceURI !== NS.protocol || !expected.includes(root.localName!))
    throw new Refusal('unexpected_message', `expected ${expected.join(' or ')}`);
  try {
    await validateSchema(xml);
  } catch {
    throw new Refusal('schema_invalid', 'the message does not follow the SAML 2.0 schema');
  }
  return root;
}

/** The issuer the message claims; nothing is believed before the SP it names checked the signature. */
export function issuerOf(root: Element): string | undefined {
  return text(onlyChild(root, NS.assertion, 'Issuer'));
}

/**
 * Checks the signature of a redirect-bound message: over the query octets exactly as sent (SAML bindings 3.4.4.1),
 * with RSA-SHA256 or stronger, by a signing certificate from the SP's metadata. The signature covers the whole
 * message, so every field of it is covered.
 */
function verifyRedirect(raw: RawMessage, sp: ServiceProvider): boolean {
  const hash = SIG_ALGS[raw.sigAlg ?? ''];
  if (!hash) throw new Refusal('unsupported_sig_alg', 'SigAlg must be RSA-SHA256 or stronger', sp.entityId);
  const pick = (name: string) => (raw.rawQuery ?? '').split('&').find((part) => part.startsWith(`${name}=`));
  const octets = [pick(raw.param), pick('RelayState'), pick('SigAlg')].filter(Boolean).join('&');
  const signature = Buffer.from(raw.signature ?? '', 'base64');
  return sp.metadata.signingCertificates.some((pem) =>
    crypto.verify(hash, Buffer.from(octets), crypto.createPublicKey(pem), signature),
  );
}

/**
 * Checks the enveloped signature of a POST-bound message, and that it signs the message itself: one Signature in the
 * whole document, a child of the root, with one Reference to the root's ID, which no other element has. A signature
 * over some other element (signature wrapping, GHSA-63ch-w8pw-4mf2) is refused, so every field read afterwards
 * from the root is covered by what was verified.
 */
function verifyPost(root: Element, xml: string, sp: ServiceProvider): boolean {
  const doc = root.ownerDocument!;
  const signatures = Array.from(doc.getElementsByTagNameNS(NS.dsig, 'Signature'));
  if (signatures.length !== 1 || signatures[0]!.parentNode !== root)
    throw new Refusal('signature_wrapping', 'the signature is not the message’s own', sp.entityId);
  const id = attribute(root, 'ID');
  const signedInfo = onlyChild(signatures[0]!, NS.dsig, 'SignedInfo');
  const references = signedInfo ? children(signedInfo, NS.dsig, 'Reference') : [];
  if (!id || references.length !== 1 || attribute(references[0]!, 'URI') !== `#${id}`)
    throw new Refusal('signature_wrapping', 'the signature does not cover the message', sp.entityId);
  const sameId = Array.from(doc.getElementsByTagName('*')).filter(
    (el) => attribute(el, 'ID') === id || attribute(el, 'Id') === id || attribute(el, 'id') === id,
  );
  if (sameId.length !== 1)
    throw new Refusal('signature_wrapping', 'the message ID is not unique', sp.entityId);
  const method = signedInfo
    ? attribute(onlyChild(signedInfo, NS.dsig, 'SignatureMethod') ?? root, 'Algorithm')
    : '';
  if (!method || !SIG_ALGS[method])
    throw new Refusal('unsupported_sig_alg', 'the signature must be RSA-SHA256 or stronger', sp.entityId);
  try {
    const [verified] = samlLib.verifySignature(xml, {
      metadata: spEntity(sp).entityMeta,
      signatureAlgorithm: method,
    });
    return verified;
  } catch {
    return false;
  }
}

/**
 * Whether the message is signed, and if so verified by the SP's own key. A message that claims a signature is
 * verified even where none is required: a bad one is never ignored. `required`: refuse an unsigned one.
 */
export function checkSignature(
  raw: RawMessage,
  root: Element,
  xml: string,
  sp: ServiceProvider,
  required: boolean,
): boolean {
  const embedded = onlyChild(root, NS.dsig, 'Signature') !== undefined;
  const signed =
    raw.binding === 'redirect' ? raw.signature !== undefined || raw.sigAlg !== undefined : embedded;
  if (raw.binding === 'redirect' && embedded)
    throw new Refusal(
      'signature_wrapping',
      'a redirect-bound message carries its signature in the query',
      sp.entityId,
    );
  if (!signed) {
    if (required)
      throw new Refusal('signature_required', 'this service provider must sign its requests', sp.entityId);
    return false;
  }
  if (sp.metadata.signingCertificates.length === 0)
    throw new Refusal('bad_signature', 'the service provider publishes no signing certificate', sp.entityId);
  const ok = raw.binding === 'redirect' ? verifyRedirect(raw, sp) : verifyPost(root, xml, sp);
  if (!ok) throw new Refusal('bad_signature', 'the signature does not verify', sp.entityId);
  return true;
}

/** How far a sender's clock may be off, and how old a request may be. */
export const CLOCK_SKEW_SECONDS = 60;
export const MAX_REQUEST_AGE_SECONDS = 300;

/** IssueInstant must be recent: not older than a few minutes, not in the future beyond the skew. */
export function checkIssueInstant(root: Element, entityId: string, now = Date.now()): number {
  const instant = Date.parse(attribute(root, 'IssueInstant') ?? '');
  if (Number.isNaN(instant)) throw new Refusal('schema_invalid', 'IssueInstant is missing', entityId);
  if (instant > now + CLOCK_SKEW_SECONDS * 1000)
    throw new Refusal('future_request', 'the request was issued in the future', entityId);
  if (instant < now - (MAX_REQUEST_AGE_SECONDS + CLOCK_SKEW_SECONDS) * 1000)
    throw new Refusal('stale_request', 'the request is too old', entityId);
  return instant;
}

/** The top-level StatusCode of a response (a LogoutResponse from an SP): the schema check made sure it is there. */
export function statusCodeOf(root: Element): string | undefined {
  const status = onlyChild(root, NS.protocol, 'Status');
  const code = status && onlyChild(status, NS.protocol, 'StatusCode');
  return code && attribute(code, 'Value');
}

/** A request's Destination, when it has one, must be the endpoint it arrived at. */
export function checkDestination(root: Element, endpoint: string, entityId: string, required: boolean): void {
  const destination = attribute(root, 'Destination');
  if (destination === undefined ? required : destination !== endpoint)
    throw new Refusal('wrong_destination', `the request is not addressed to ${endpoint}`, entityId);
}

/** What Poort takes from an AuthnRequest: read from the root only, after the checks above. */
export interface AuthnRequest {
  id: string;
  acsUrl?: string;
  acsIndex?: number;
  protocolBinding?: string;
  forceAuthn: boolean;
  isPassive: boolean;
  requestedAuthnContext?: RequestedAuthnContextInput;
}

export interface RequestedAuthnContextInput {
  comparison: 'exact' | 'minimum' | 'better' | 'maximum';
  classRefs: string[];
}

export function readAuthnRequest(root: Element, entityId: string): AuthnRequest {
  const id = attribute(root, 'ID');
  if (!id) throw new Refusal('schema_invalid', 'the request has no ID', entityId);
  const index = attribute(root, 'AssertionConsumerServiceIndex');
  const requested = onlyChild(root, NS.protocol, 'RequestedAuthnContext');
  const comparison = requested ? (attribute(requested, 'Comparison') ?? 'exact') : 'exact';
  return {
    id,
    acsUrl: attribute(root, 'AssertionConsumerServiceURL'),
    ...(index !== undefined ? { acsIndex: Number(index) } : {}),
    protocolBinding: attribute(root, 'ProtocolBinding'),
    forceAuthn: ['true', '1'].includes(attribute(root, 'ForceAuthn') ?? ''),
    isPassive: ['true', '1'].includes(attribute(root, 'IsPassive') ?? ''),
    ...(requested
      ? {
          requestedAuthnContext: {
            comparison: comparison as RequestedAuthnContextInput['comparison'],
            classRefs: children(requested, NS.assertion, 'AuthnContextClassRef')
              .map((el) => text(el))
              .filter((v): v is string => v !== undefined),
          },
        }
      : {}),
  };
}

/**
 * The assertion consumer service of a request: by URL (which must be one in the SP's metadata) or by index, else the
 * default; only HTTP-POST ones, since Poort answers with HTTP-POST.
 */
export function resolveAcs(
  sp: ServiceProvider,
  request: Pick<AuthnRequest, 'acsUrl' | 'acsIndex' | 'protocolBinding'>,
  fallback: string,
): string {
  const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
  if (request.protocolBinding !== undefined && request.protocolBinding !== POST)
    throw new Refusal('unsupported_binding', 'Poort answers with the HTTP-POST binding only', sp.entityId);
  const post = sp.metadata.assertionConsumerServices.filter((e) => e.binding === POST);
  if (request.acsIndex !== undefined) {
    const found = post.find((e) => e.index === request.acsIndex);
    if (!found || request.acsUrl !== undefined)
      throw new Refusal('acs_not_in_metadata', 'no such assertion consumer service index', sp.entityId);
    return found.location;
  }
  if (request.acsUrl !== undefined) {
    if (!post.some((e) => e.location === request.acsUrl))
      throw new Refusal(
        'acs_not_in_metadata',
        'the assertion consumer service is not in the metadata',
        sp.entityId,
      );
    return request.acsUrl;
  }
  return fallback;
}

export interface LogoutRequest {
  id: string;
  nameId?: { format?: string; value: string };
  sessionIndexes: string[];
}

export function readLogoutRequest(root: Element, entityId: string): LogoutRequest {
  const id = attribute(root, 'ID');
  if (!id) throw new Refusal('schema_invalid', 'the request has no ID', entityId);
  const nameId = onlyChild(root, NS.assertion, 'NameID');
  const value = text(nameId);
  return {
    id,
    ...(nameId && value ? { nameId: { format: attribute(nameId, 'Format'), value } } : {}),
    sessionIndexes: children(root, NS.protocol, 'SessionIndex')
      .map((el) => text(el))
      .filter((v): v is string => v !== undefined),
  };
}

/**
 * The schema validator compiles its WebAssembly on first use, which takes seconds and blocks the process. Where SAML
 * is in use (a service provider is registered), pay that at start-up, before the first request waits for it.
 */
export async function warmSchemaValidator(serviceProviders: { list(): Promise<unknown[]> }): Promise<void> {
  if ((await serviceProviders.list()).length === 0) return;
  await validateSchema(
    `<samlp:LogoutResponse xmlns:samlp="${NS.protocol}" ID="_warm" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>`,
  );
}
