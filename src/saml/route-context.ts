import type { UpstreamSignOns } from '../directory/upstream/sign-ons.js';
import crypto from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type Provider from 'oidc-provider';
import type { AuditEventInput } from '../audit/event.js';
import type { PageContext } from '../http/render.js';
import { renderPage } from '../http/render.js';
import type { Logger } from '../log/logger.js';
import { strengthOfAcr, type Strength } from '../mfa/strength.js';
import type { InternalSignIn } from '../oidc/internal-client.js';
import { SessionStrengths } from '../oidc/session-strength.js';
import { describeSource } from '../policy/source.js';
import type { Services } from '../server/services.js';
import { idpEndpoints, type Signer } from './idp.js';
import {
  checkDestination,
  checkIssueInstant,
  checkSignature,
  decodeMessage,
  issuerOf,
  MAX_ENCODED_BYTES,
  parseMessage,
  Refusal,
  type RawMessage,
} from './inbound.js';
import type { ServiceProvider } from './service-providers.js';
import { SamlState } from './state.js';

export interface SamlRouteDeps {
  services: Services;
  provider: () => Provider;
  page: (req: Request, res: Response, pagePath?: string) => PageContext;
  log: Logger;
  /** sign-ins at upstream providers that sign out with Poort: a single logout signs out there too */
  upstreamSignOns?: UpstreamSignOns;
}

export const MAX_RELAY_STATE = 1024;
export const random = () => crypto.randomBytes(32).toString('base64url');

export function single(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** What the SSO and SLO routes share: the IdP's endpoints and state, and the ways they read, answer and audit. */
export type SamlContext = ReturnType<typeof samlContext>;

export function samlContext(deps: SamlRouteDeps) {
  const { services, log } = deps;
  const { config } = services;
  const issuer = config.server.issuer;
  const endpoints = idpEndpoints(issuer, config.saml.entity_id);
  const state = new SamlState(services.kv, {
    pendingSeconds: config.oidc.ttl.interaction,
    sessionSeconds: config.oidc.ttl.session,
  });
  // A cross-site SAML POST carries no CSRF token by design: the message itself is checked instead.
  const form = express.urlencoded({ extended: false, limit: MAX_ENCODED_BYTES + 4096, parameterLimit: 8 });

  const signer = (): Signer => {
    const certificate = services.samlCertificates.active();
    if (!certificate) throw new Error('no SAML signing certificate');
    return { certificate };
  };

  async function audit(
    req: Request,
    event: Omit<AuditEventInput, 'source' | 'actor'> & { actor?: AuditEventInput['actor'] },
  ) {
    await services.audit.append({
      actor: { type: 'user' },
      ...event,
      source: describeSource(req.ip ?? '', req.headers),
    });
  }

  function errorPage(req: Request, res: Response, status: number, reason: string) {
    const p = deps.page(req, res);
    const key = `saml.error.${reason}`;
    res
      .status(status)
      .type('html')
      .send(
        renderPage('error', p, {
          title: p.t('saml.error.title'),
          message: p.t(key) !== key ? p.t(key) : p.t('saml.error.text'),
          code: reason,
          requestId: String(res.getHeader('X-Request-Id') ?? ''),
        }),
      );
  }

  /** A refused message: audited with its reason, answered with a clear 400 page (never a SAML response to anyone). */
  async function refuse(req: Request, res: Response, action: 'saml.request' | 'saml.logout', err: Refusal) {
    await audit(req, {
      action,
      outcome: 'failure',
      reason: err.reason,
      ...(err.entityId ? { application: { id: err.entityId, protocol: 'saml' as const } } : {}),
      details: { binding: req.method === 'GET' ? 'redirect' : 'post' },
    });
    errorPage(req, res, 400, err.reason);
  }

  /** The HTML page that posts a SAML message to the SP: auto-submitted by a script file, a button without script. */
  function postForm(req: Request, res: Response, action: string, fields: Record<string, string | undefined>) {
    const p = deps.page(req, res);
    res
      .status(200)
      .type('html')
      .set('Cache-Control', 'no-store')
      .send(
        renderPage('saml/post', p, {
          action,
          fields: Object.entries(fields)
            .filter((entry): entry is [string, string] => entry[1] !== undefined)
            .map(([name, value]) => ({ name, value })),
        }),
      );
  }

  function rawMessage(req: Request, param: 'SAMLRequest' | 'SAMLResponse'): RawMessage | undefined {
    if (req.method === 'GET') {
      const encoded = single(req.query[param]);
      if (encoded === undefined) return undefined;
      const url = req.originalUrl;
      return {
        binding: 'redirect',
        param,
        encoded,
        relayState: single(req.query.RelayState),
        sigAlg: single(req.query.SigAlg),
        signature: single(req.query.Signature),
        rawQuery: url.includes('?') ? url.slice(url.indexOf('?') + 1) : '',
      };
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const encoded = single(body[param]);
    if (encoded === undefined) return undefined;
    return { binding: 'post', param, encoded, relayState: single(body.RelayState) };
  }

  async function findSp(entityId: string | undefined): Promise<ServiceProvider> {
    const sp = entityId ? await services.serviceProviders.find(entityId) : undefined;
    if (!sp) throw new Refusal('unknown_sp', 'the service provider is not registered', undefined);
    return sp;
  }

  /**
   * A message from an SP, checked as every inbound message is: decoded and parsed (one of `kinds`, schema-valid),
   * issued by a registered SP, signed where `signatureRequired(sp)` (and never with a wrapped signature), recent, and
   * addressed to `destination`. Anything else throws a Refusal.
   */
  async function readMessage(
    raw: RawMessage,
    kinds: readonly string[],
    destination: string,
    signatureRequired: (sp: ServiceProvider) => boolean,
  ): Promise<{ root: Element; sp: ServiceProvider; signed: boolean }> {
    const xml = decodeMessage(raw);
    const root = await parseMessage(xml, kinds);
    const sp = await findSp(issuerOf(root));
    const signed = checkSignature(raw, root, xml, sp, signatureRequired(sp));
    checkIssueInstant(root, sp.entityId);
    checkDestination(root, destination, sp.entityId, signed);
    return { root, sp, signed };
  }

  /** The oidc-provider session this browser has. */
  async function oidcSession(req: Request, res: Response) {
    const provider = deps.provider();
    return provider.Session.get(provider.createContext(req, res) as never);
  }

  /** The oidc-provider session this browser has, to tie SAML sessions to it for logout. */
  async function oidcSessionUid(req: Request, res: Response): Promise<string | undefined> {
    const session = await oidcSession(req, res);
    return session.accountId ? session.uid : undefined;
  }

  // only read here: the TTL is for writing, which the provider does
  const strengths = new SessionStrengths(services.kv, config.oidc.acr, config.oidc.ttl.session);

  /**
   * The second factor of the sign-in an internal code was just redeemed for, and this browser's session uid. The ID
   * token's acr does not tell TOTP from a code by e-mail or SMS; the session it came from does.
   */
  async function signedInWith(
    req: Request,
    res: Response,
    signedIn: Extract<InternalSignIn, { ok: true }>,
  ): Promise<{ strength: Strength | undefined; sessionUid: string | undefined }> {
    const session = await oidcSession(req, res);
    const sameSignIn = session.accountId === signedIn.sub && session.loginTs === signedIn.authTime;
    return {
      strength: sameSignIn ? await strengths.of(session) : strengthOfAcr(signedIn.acr, config.oidc.acr),
      sessionUid: session.accountId ? session.uid : undefined,
    };
  }

  return {
    deps,
    services,
    config,
    log,
    issuer,
    endpoints,
    state,
    form,
    signer,
    audit,
    errorPage,
    refuse,
    postForm,
    rawMessage,
    findSp,
    readMessage,
    oidcSessionUid,
    signedInWith,
  };
}
