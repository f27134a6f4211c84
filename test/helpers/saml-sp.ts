import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import {
  generateServiceProviderMetadata,
  SAML,
  ValidateInResponseTo,
  type CacheProvider,
  type Profile,
  type RacComparison,
  type SamlConfig,
} from '@node-saml/node-saml';
import { InMemoryCacheProvider } from '@node-saml/node-saml/lib/in-memory-cache-provider.js';
import { certificatePem, selfSignedCertificate, type KeyAndCertificate } from './saml-keys.js';
import {
  BINDING,
  children,
  decodeSamlMessage,
  elements,
  firstText,
  NAMEID_FORMAT,
  NS,
  parseXml,
  readStatus,
  serializeXml,
  STATUS,
  type NameIdFormatName,
} from './saml-xml.js';

// node-saml's own decryption library, loaded untyped for the same reason as @xmldom/xmldom (see saml-xml.ts).
const xmlenc = createRequire(import.meta.url)('xml-encryption') as {
  decrypt(xml: string, options: { key: string }, done: (err: Error | null, result?: string) => void): void;
};

/** What a service provider learns from the IdP's metadata document. */
export interface IdpMetadata {
  xml: string;
  entityId: string;
  /** PEM certificates of KeyDescriptors for signing (or without `use`) */
  signingCertificates: string[];
  sso: { redirect?: string; post?: string };
  slo: { redirect?: string; post?: string };
  wantAuthnRequestsSigned: boolean;
  nameIdFormats: string[];
}

/** The metadata with more HTTP-POST AssertionConsumerServices (indexes 2, 3, …) after the default one. */
function withMoreAcs(metadata: string, urls: string[]): string {
  const doc = parseXml(metadata);
  const descriptor = elements(doc, NS.metadata, 'SPSSODescriptor')[0]!;
  urls.forEach((url, i) => {
    const acs = doc.createElementNS(NS.metadata, 'AssertionConsumerService');
    acs.setAttribute('index', String(i + 2));
    acs.setAttribute('Binding', BINDING.post);
    acs.setAttribute('Location', url);
    descriptor.appendChild(acs);
  });
  return serializeXml(doc);
}

export function parseIdpMetadata(xml: string): IdpMetadata {
  const doc = parseXml(xml);
  const root = doc.documentElement;
  if (root.namespaceURI !== NS.metadata || root.localName !== 'EntityDescriptor')
    throw new Error(`not an EntityDescriptor: ${root.localName}`);
  const idp = elements(doc, NS.metadata, 'IDPSSODescriptor')[0];
  if (!idp) throw new Error('metadata has no IDPSSODescriptor');
  const endpoints = (name: string) => {
    const out: { redirect?: string; post?: string } = {};
    for (const e of children(idp, NS.metadata, name)) {
      const binding = e.getAttribute('Binding');
      const location = e.getAttribute('Location') || undefined;
      if (binding === BINDING.redirect) out.redirect = location;
      if (binding === BINDING.post) out.post = location;
    }
    return out;
  };
  const signingCertificates = children(idp, NS.metadata, 'KeyDescriptor')
    .filter((k) => (k.getAttribute('use') || 'signing') === 'signing')
    .flatMap((k) => elements(k, NS.dsig, 'X509Certificate'))
    .map((c) => certificatePem(c.textContent ?? ''));
  return {
    xml,
    entityId: root.getAttribute('entityID') ?? '',
    signingCertificates,
    sso: endpoints('SingleSignOnService'),
    slo: endpoints('SingleLogoutService'),
    wantAuthnRequestsSigned: idp.getAttribute('WantAuthnRequestsSigned') === 'true',
    nameIdFormats: children(idp, NS.metadata, 'NameIDFormat').map((e) => e.textContent?.trim() ?? ''),
  };
}

/** Fetches and parses `<issuer>/saml/metadata`. */
export async function fetchIdpMetadata(issuer: string): Promise<IdpMetadata> {
  const res = await fetch(`${issuer}/saml/metadata`);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET /saml/metadata: ${res.status}\n${body.slice(0, 500)}`);
  return parseIdpMetadata(body);
}

export interface ServiceProviderOptions {
  entityId: string;
  /** the AssertionConsumerService (HTTP-POST); never served: the test reads the form that would post to it */
  acsUrl?: string;
  /** the SingleLogoutService (HTTP-POST) */
  sloUrl?: string;
  /** AuthnRequestsSigned="true" with a signing certificate in the metadata, and every request signed */
  signRequests?: boolean;
  /** an encryption certificate in the metadata; assertions are decrypted with its key */
  encryption?: boolean;
  /** NameIDFormat in metadata and NameIDPolicy in requests (default persistent); null: none */
  nameIdFormat?: NameIdFormatName | null;
  /** WantAssertionsSigned in metadata, and demanded when validating (default true) */
  wantAssertionsSigned?: boolean;
  /** more HTTP-POST AssertionConsumerServices after the default one (index 1), with indexes 2, 3, … */
  extraAcsUrls?: string[];
}

export interface AuthnRequestOptions {
  relayState?: string;
  forceAuthn?: boolean;
  passive?: boolean;
  /** RequestedAuthnContext class references; none sent when absent */
  authnContext?: string[];
  comparison?: RacComparison;
  /** AssertionConsumerServiceURL other than the SP's own (an attacker's) */
  acsUrl?: string;
  /**
   * AssertionConsumerServiceIndex instead of a URL (null: neither, the IdP takes the default); Redirect binding,
   * unsigned requests only
   */
  acsIndex?: number | null;
  /** an Issuer other than the SP's entityID */
  issuer?: string;
  /** sign (default: as the SP's metadata says) */
  sign?: boolean;
  nameIdFormat?: NameIdFormatName | null;
}

export interface SentRequest {
  id: string;
  xml: string;
}
export interface RedirectRequest extends SentRequest {
  url: string;
}
export interface PostRequest extends SentRequest {
  action: string;
  fields: Record<string, string>;
}

/** A validated SAML Response: node-saml's profile and the facts the tests check. */
export interface ValidatedResponse {
  profile: Profile;
  responseXml: string;
  /** the signed content of the assertion as node-saml verified it (the signature itself removed) */
  assertionXml: string;
  /** the assertion as the IdP sent it, with its signature (decrypted first when it was encrypted) */
  sentAssertionXml: string;
  encrypted: boolean;
  responseSigned: boolean;
  inResponseTo?: string;
  relayState?: string;
  nameId: string;
  nameIdFormat?: string;
  spNameQualifier?: string;
  sessionIndex?: string;
  authnContextClassRef?: string;
  authnInstant?: string;
  notBefore?: string;
  notOnOrAfter?: string;
  audiences: string[];
  recipient?: string;
  /** released attributes by Name, every value as text */
  attributes: Record<string, string[]>;
}

export interface SloSession {
  nameId: string;
  nameIdFormat?: string;
  spNameQualifier?: string;
  nameQualifier?: string;
  sessionIndex?: string;
}

export interface LogoutResult {
  status?: string;
  subStatus?: string;
  inResponseTo?: string;
  xml: string;
}

/**
 * A SAML service provider built on @node-saml/node-saml: its own keys and metadata, AuthnRequests over both
 * bindings, and validation of what the IdP sends back. Beyond node-saml's checks (signatures, audience,
 * InResponseTo through its request cache, time conditions), it checks Destination, Recipient and Issuer, which
 * node-saml 5.1 leaves to the application.
 */
export class ServiceProvider {
  readonly entityId: string;
  readonly acsUrl: string;
  readonly sloUrl: string;
  readonly signRequests: boolean;
  readonly wantAssertionsSigned: boolean;
  readonly nameIdFormat: NameIdFormatName | null;
  readonly metadata: string;
  readonly extraAcsUrls: string[];
  /** request IDs this SP sent and still waits for, shared by all its node-saml instances */
  readonly cache: CacheProvider = new InMemoryCacheProvider({});
  private idpMetadata?: IdpMetadata;

  private constructor(
    options: ServiceProviderOptions,
    readonly signing: KeyAndCertificate | undefined,
    readonly encryption: KeyAndCertificate | undefined,
  ) {
    const slug = encodeURIComponent(options.entityId.replace(/[^a-z0-9]+/gi, '-'));
    this.entityId = options.entityId;
    this.acsUrl = options.acsUrl ?? `http://127.0.0.1:9/${slug}/acs`;
    this.sloUrl = options.sloUrl ?? `http://127.0.0.1:9/${slug}/slo`;
    this.signRequests = options.signRequests ?? false;
    this.wantAssertionsSigned = options.wantAssertionsSigned ?? true;
    this.nameIdFormat = options.nameIdFormat === undefined ? 'persistent' : options.nameIdFormat;
    this.extraAcsUrls = options.extraAcsUrls ?? [];
    const generated = generateServiceProviderMetadata({
      issuer: this.entityId,
      callbackUrl: this.acsUrl,
      logoutCallbackUrl: this.sloUrl,
      identifierFormat: this.nameIdFormat ? NAMEID_FORMAT[this.nameIdFormat] : null,
      wantAssertionsSigned: this.wantAssertionsSigned,
      privateKey: signing?.privateKey,
      publicCerts: signing?.certificate,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      decryptionPvk: encryption?.privateKey,
      decryptionCert: encryption?.certificate,
    });
    this.metadata = this.extraAcsUrls.length > 0 ? withMoreAcs(generated, this.extraAcsUrls) : generated;
  }

  static async create(options: ServiceProviderOptions): Promise<ServiceProvider> {
    const signing = options.signRequests
      ? await selfSignedCertificate(`${options.entityId} signing`)
      : undefined;
    const encryption = options.encryption
      ? await selfSignedCertificate(`${options.entityId} encryption`)
      : undefined;
    return new ServiceProvider(options, signing, encryption);
  }

  /** Writes the metadata into `dir` and returns the file's path. */
  writeMetadata(dir: string, name = `${this.entityId.replace(/[^a-z0-9]+/gi, '-')}.xml`): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, this.metadata);
    return file;
  }

  /** Takes the IdP's metadata (endpoints, signing certificate); from then on the SP can talk to it. */
  async connect(issuerOrMetadata: string | IdpMetadata): Promise<this> {
    this.idpMetadata =
      typeof issuerOrMetadata === 'string' ? await fetchIdpMetadata(issuerOrMetadata) : issuerOrMetadata;
    return this;
  }

  get idp(): IdpMetadata {
    if (!this.idpMetadata) throw new Error('connect() the service provider to the IdP first');
    return this.idpMetadata;
  }

  /** A node-saml instance configured as this SP would be, with `overrides`. */
  client(overrides: Partial<SamlConfig> = {}): SAML {
    const idp = this.idp;
    return new SAML({
      issuer: this.entityId,
      audience: this.entityId,
      callbackUrl: this.acsUrl,
      logoutCallbackUrl: this.sloUrl,
      entryPoint: idp.sso.redirect,
      logoutUrl: idp.slo.redirect,
      idpCert: idp.signingCertificates,
      idpIssuer: idp.entityId,
      wantAssertionsSigned: this.wantAssertionsSigned,
      wantAuthnResponseSigned: false,
      identifierFormat: this.nameIdFormat ? NAMEID_FORMAT[this.nameIdFormat] : null,
      disableRequestedAuthnContext: true,
      validateInResponseTo: ValidateInResponseTo.always,
      cacheProvider: this.cache,
      acceptedClockSkewMs: 0,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      ...(this.signing ? { privateKey: this.signing.privateKey, publicCert: this.signing.certificate } : {}),
      ...(this.encryption ? { decryptionPvk: this.encryption.privateKey } : {}),
      ...overrides,
    } as SamlConfig);
  }

  private requestClient(options: AuthnRequestOptions, binding: 'redirect' | 'post'): SAML {
    const sign = options.sign ?? this.signRequests;
    if (sign && !this.signing) throw new Error(`${this.entityId} has no signing key`);
    const format = options.nameIdFormat === undefined ? this.nameIdFormat : options.nameIdFormat;
    const entryPoint = binding === 'redirect' ? this.idp.sso.redirect : this.idp.sso.post;
    if (!entryPoint) throw new Error(`the IdP's metadata has no SingleSignOnService for ${binding}`);
    return this.client({
      entryPoint,
      issuer: options.issuer ?? this.entityId,
      callbackUrl: options.acsUrl ?? this.acsUrl,
      disableRequestAcsUrl: options.acsIndex !== undefined,
      forceAuthn: options.forceAuthn ?? false,
      passive: options.passive ?? false,
      identifierFormat: format ? NAMEID_FORMAT[format] : null,
      ...(options.authnContext
        ? {
            disableRequestedAuthnContext: false,
            authnContext: options.authnContext,
            racComparison: options.comparison ?? 'minimum',
          }
        : {}),
      // The HTTP-POST binding carries the request base64-encoded but not deflated.
      skipRequestCompression: binding === 'post',
      ...(sign ? {} : { privateKey: undefined, publicCert: undefined }),
    });
  }

  /** An AuthnRequest for the HTTP-Redirect binding (signed in the query string when the SP signs). */
  async redirectRequest(options: AuthnRequestOptions = {}): Promise<RedirectRequest> {
    const byIndex = options.acsIndex !== undefined;
    if (byIndex && (options.sign ?? this.signRequests)) throw new Error('acsIndex is for unsigned requests');
    const client = this.requestClient(options, 'redirect');
    const url = new URL(await client.getAuthorizeUrlAsync(options.relayState ?? '', undefined, {}));
    let xml = decodeSamlMessage(url.searchParams.get('SAMLRequest')!, 'redirect');
    if (typeof options.acsIndex === 'number') {
      const doc = parseXml(xml);
      doc.documentElement.setAttribute('AssertionConsumerServiceIndex', String(options.acsIndex));
      xml = serializeXml(doc);
      url.searchParams.set('SAMLRequest', deflateRawSync(Buffer.from(xml)).toString('base64'));
    }
    return { url: url.href, xml, id: parseXml(xml).documentElement.getAttribute('ID')! };
  }

  /** An AuthnRequest for the HTTP-POST binding (with an enveloped XML signature when the SP signs). */
  async postRequest(options: AuthnRequestOptions = {}): Promise<PostRequest> {
    const client = this.requestClient(options, 'post');
    const message = await client.getAuthorizeMessageAsync(options.relayState ?? '');
    const fields = Object.fromEntries(
      Object.entries(message).filter(([, v]) => v !== '' && v !== undefined),
    ) as Record<string, string>;
    const xml = decodeSamlMessage(fields.SAMLRequest!, 'post');
    return {
      action: this.idp.sso.post!,
      fields,
      xml,
      id: parseXml(xml).documentElement.getAttribute('ID')!,
    };
  }

  /**
   * Validates a SAMLResponse as this SP: node-saml first (signatures with the IdP's certificate, InResponseTo
   * against the requests this SP sent — or none for an unsolicited response —, audience, time conditions,
   * decryption), then Destination, Recipient, Issuer and the subject confirmation. Throws on any failure.
   */
  async validateResponse(
    fields: { SAMLResponse: string; RelayState?: string },
    options: { unsolicited?: boolean; responseSigned?: boolean; acsUrl?: string } = {},
  ): Promise<ValidatedResponse> {
    const acsUrl = options.acsUrl ?? this.acsUrl;
    const client = this.client({
      wantAuthnResponseSigned: options.responseSigned ?? false,
      validateInResponseTo: options.unsolicited ? ValidateInResponseTo.never : ValidateInResponseTo.always,
    });
    const { profile } = await client.validatePostResponseAsync({ ...fields });
    if (!profile) throw new Error('node-saml returned no profile (a NoPassive response)');
    const responseXml = decodeSamlMessage(fields.SAMLResponse, 'post');
    const response = parseXml(responseXml).documentElement;
    const fail = (what: string) => {
      throw new Error(`${what}\n${responseXml}`);
    };
    if (response.localName !== 'Response' || response.namespaceURI !== NS.protocol)
      fail('not a samlp:Response');
    if (response.getAttribute('Destination') !== acsUrl)
      fail(`Destination ${response.getAttribute('Destination')} is not the ACS ${acsUrl}`);
    const responseIssuer = children(response, NS.assertion, 'Issuer')[0]?.textContent?.trim();
    if (responseIssuer !== undefined && responseIssuer !== this.idp.entityId)
      fail(`Response Issuer ${responseIssuer} is not ${this.idp.entityId}`);
    const inResponseTo = response.getAttribute('InResponseTo') || undefined;
    if (options.unsolicited && inResponseTo) fail(`unsolicited Response has InResponseTo ${inResponseTo}`);
    if (!options.unsolicited && !inResponseTo) fail('Response has no InResponseTo');

    const assertionXml = profile.getAssertionXml!();
    const assertionDoc = parseXml(assertionXml);
    const assertion = assertionDoc.documentElement;
    const assertionIssuer = children(assertion, NS.assertion, 'Issuer')[0]?.textContent?.trim();
    if (assertionIssuer !== this.idp.entityId)
      fail(`Assertion Issuer ${assertionIssuer} is not ${this.idp.entityId}`);
    const subject = children(assertion, NS.assertion, 'Subject')[0];
    const confirmations = subject ? children(subject, NS.assertion, 'SubjectConfirmation') : [];
    const bearer = confirmations.find(
      (c) => c.getAttribute('Method') === 'urn:oasis:names:tc:SAML:2.0:cm:bearer',
    );
    if (!bearer) fail('no bearer SubjectConfirmation');
    const data = children(bearer!, NS.assertion, 'SubjectConfirmationData')[0];
    const recipient = data?.getAttribute('Recipient') || undefined;
    if (recipient !== acsUrl) fail(`Recipient ${recipient} is not the ACS ${acsUrl}`);
    const confirmedFor = data?.getAttribute('InResponseTo') || undefined;
    if (confirmedFor !== inResponseTo)
      fail(`SubjectConfirmationData InResponseTo ${confirmedFor} is not the Response's ${inResponseTo}`);

    const nameIdElement = subject ? children(subject, NS.assertion, 'NameID')[0] : undefined;
    const conditions = children(assertion, NS.assertion, 'Conditions')[0];
    const authn = children(assertion, NS.assertion, 'AuthnStatement')[0];
    const attributes: Record<string, string[]> = {};
    for (const attribute of elements(assertionDoc, NS.assertion, 'Attribute')) {
      const name = attribute.getAttribute('Name')!;
      attributes[name] = children(attribute, NS.assertion, 'AttributeValue').map((v) => v.textContent ?? '');
    }
    const encryptedAssertion = children(response, NS.assertion, 'EncryptedAssertion')[0];
    const sentAssertion = children(response, NS.assertion, 'Assertion')[0];
    const sentAssertionXml = encryptedAssertion
      ? await new Promise<string>((resolve, reject) =>
          xmlenc.decrypt(
            serializeXml(encryptedAssertion),
            { key: this.encryption!.privateKey },
            (err, out) => (err ? reject(err) : resolve(out!)),
          ),
        )
      : serializeXml(sentAssertion!);
    return {
      profile,
      responseXml,
      assertionXml,
      sentAssertionXml,
      encrypted: encryptedAssertion !== undefined,
      responseSigned: children(response, NS.dsig, 'Signature').length === 1,
      inResponseTo,
      relayState: fields.RelayState,
      nameId: nameIdElement?.textContent?.trim() ?? '',
      nameIdFormat: nameIdElement?.getAttribute('Format') || undefined,
      spNameQualifier: nameIdElement?.getAttribute('SPNameQualifier') || undefined,
      sessionIndex: authn?.getAttribute('SessionIndex') || undefined,
      authnInstant: authn?.getAttribute('AuthnInstant') || undefined,
      authnContextClassRef: authn ? firstText(authn, NS.assertion, 'AuthnContextClassRef') : undefined,
      notBefore: conditions?.getAttribute('NotBefore') || undefined,
      notOnOrAfter: conditions?.getAttribute('NotOnOrAfter') || undefined,
      audiences: conditions
        ? elements(conditions, NS.assertion, 'Audience').map((a) => a.textContent ?? '')
        : [],
      recipient,
      attributes,
    };
  }

  /** A LogoutRequest for the HTTP-Redirect binding naming `session` (signed when the SP signs). */
  async logoutRequest(session: SloSession, relayState = ''): Promise<RedirectRequest> {
    const logoutUrl = this.idp.slo.redirect;
    if (!logoutUrl) throw new Error("the IdP's metadata has no SingleLogoutService for HTTP-Redirect");
    const profile: Profile = {
      issuer: this.entityId,
      nameID: session.nameId,
      nameIDFormat: session.nameIdFormat ?? NAMEID_FORMAT.unspecified,
      ...(session.spNameQualifier ? { spNameQualifier: session.spNameQualifier } : {}),
      ...(session.nameQualifier ? { nameQualifier: session.nameQualifier } : {}),
      ...(session.sessionIndex ? { sessionIndex: session.sessionIndex } : {}),
    };
    const url = await this.client({ logoutUrl }).getLogoutUrlAsync(profile, relayState, {});
    const xml = decodeSamlMessage(new URL(url).searchParams.get('SAMLRequest')!, 'redirect');
    return { url, xml, id: parseXml(xml).documentElement.getAttribute('ID')! };
  }

  /**
   * Receives a LogoutRequest from the IdP at this SP's SLO endpoint (logout propagation): node-saml checks the
   * IdP's signature (a Redirect one must be there), the issuer and the time; the SP checks the Destination.
   */
  async receiveLogoutRequest(
    message: { binding: 'post'; fields: Record<string, string> } | { binding: 'redirect'; url: string },
  ): Promise<{ profile: Profile; xml: string; relayState?: string }> {
    const client = this.client();
    let profile: Profile | null;
    let xml: string;
    let relayState: string | undefined;
    if (message.binding === 'post') {
      xml = decodeSamlMessage(message.fields.SAMLRequest!, 'post');
      relayState = message.fields.RelayState;
      ({ profile } = await client.validatePostRequestAsync({ SAMLRequest: message.fields.SAMLRequest! }));
    } else {
      const url = new URL(message.url);
      if (!url.searchParams.has('Signature')) throw new Error('the LogoutRequest is not signed');
      xml = decodeSamlMessage(url.searchParams.get('SAMLRequest')!, 'redirect');
      relayState = url.searchParams.get('RelayState') ?? undefined;
      ({ profile } = await client.validateRedirectAsync(
        Object.fromEntries(url.searchParams),
        url.search.slice(1),
      ));
    }
    if (!profile) throw new Error('node-saml found no LogoutRequest');
    const destination = parseXml(xml).documentElement.getAttribute('Destination');
    if (destination !== this.sloUrl)
      throw new Error(`LogoutRequest Destination ${destination} is not ${this.sloUrl}`);
    return { profile, xml, relayState };
  }

  /** The LogoutResponse (Success) to a LogoutRequest received from the IdP, as an HTTP-Redirect URL to its SLO. */
  async logoutResponseUrl(request: Profile, relayState = ''): Promise<string> {
    return this.client().getLogoutResponseUrlAsync(request, relayState, {}, true);
  }

  /**
   * Reads a LogoutResponse that reached the SLO endpoint, by a form post or a redirect. A Success response must
   * answer a LogoutRequest this SP sent and pass node-saml's checks (signature, issuer); any other status is
   * returned as read, for the tests that expect a refusal.
   */
  /**
   * The LogoutResponse a browser walk ended with (saml-browser.ts `walk` with this SP's SLO URL as `stopAt`): sent
   * to the SLO URL by redirect, or posted there by an auto-submit form.
   */
  validateWalkedLogoutResponse(walked: { redirectedTo?: string; post?: { fields: Record<string, string> } }) {
    if (walked.redirectedTo)
      return this.validateLogoutResponse({ binding: 'redirect', url: walked.redirectedTo });
    if (!walked.post) throw new Error('the walk ended neither at the SLO URL nor with a form posting to it');
    return this.validateLogoutResponse({ binding: 'post', fields: walked.post.fields });
  }

  async validateLogoutResponse(
    message: { binding: 'post'; fields: Record<string, string> } | { binding: 'redirect'; url: string },
  ): Promise<LogoutResult> {
    const encoded =
      message.binding === 'post'
        ? message.fields.SAMLResponse
        : (new URL(message.url).searchParams.get('SAMLResponse') ?? undefined);
    if (!encoded) throw new Error('no SAMLResponse in the logout response');
    const xml = decodeSamlMessage(encoded, message.binding);
    const root = parseXml(xml).documentElement;
    if (root.localName !== 'LogoutResponse') throw new Error(`not a LogoutResponse: ${root.localName}`);
    const status = readStatus(xml);
    const result: LogoutResult = {
      status: status.code,
      subStatus: status.subCode,
      inResponseTo: root.getAttribute('InResponseTo') || undefined,
      xml,
    };
    if (result.status !== STATUS.success) return result;
    const destination = root.getAttribute('Destination');
    if (destination && destination !== this.sloUrl)
      throw new Error(`LogoutResponse Destination ${destination} is not the SLO endpoint ${this.sloUrl}`);
    // node-saml 5.1 looks for InResponseTo only on a Response root, so the SP checks a LogoutResponse's itself:
    // it must answer a LogoutRequest this SP sent (node-saml cached its ID), once.
    if (!result.inResponseTo || !(await this.cache.getAsync(result.inResponseTo)))
      throw new Error(`LogoutResponse InResponseTo ${result.inResponseTo} is not a request this SP sent`);
    await this.cache.removeAsync(result.inResponseTo);
    const client = this.client({ validateInResponseTo: ValidateInResponseTo.never });
    if (message.binding === 'post') {
      const { loggedOut } = await client.validatePostResponseAsync({ SAMLResponse: encoded });
      if (!loggedOut) throw new Error('node-saml did not accept the LogoutResponse');
    } else {
      const url = new URL(message.url);
      const { loggedOut } = await client.validateRedirectAsync(
        Object.fromEntries(url.searchParams),
        url.search.slice(1),
      );
      if (!loggedOut) throw new Error('node-saml did not accept the LogoutResponse');
    }
    return result;
  }
}
