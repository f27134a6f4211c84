import crypto from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type Provider from 'oidc-provider';
import { correlationId, type AuditEventInput } from '../audit/event.js';
import type { PageContext } from '../http/render.js';
import { renderPage } from '../http/render.js';
import type { Logger } from '../log/logger.js';
import { describeSource } from '../policy/source.js';
import type { Services } from '../server/services.js';
import { loopbackTokenEndpoint } from '../account/oidc.js';
import { acrSatisfies, acrValuesFor, classRefFor, requirementFor } from './authn-context.js';
import {
  nameIdKey,
  SAML_CLIENT_ID,
  samlClientSecret,
  samlRedirectUri,
  SP_MAC_PARAM,
  SP_PARAM,
  SpBinding,
} from './client.js';
import {
  buildLoginResponse,
  buildLogoutRequest,
  buildLogoutResponse,
  buildStatusResponse,
  idpEndpoints,
  idpMetadata,
  redirectUrl,
  samlId,
  STATUS,
  type Signer,
} from './idp.js';
import {
  checkDestination,
  checkIssueInstant,
  checkSignature,
  decodeMessage,
  issuerOf,
  MAX_ENCODED_BYTES,
  parseMessage,
  readAuthnRequest,
  readLogoutRequest,
  Refusal,
  resolveAcs,
  statusCodeOf,
  type RawMessage,
} from './inbound.js';
import { attribute } from './xml.js';
import { redeemInternalCode } from '../oidc/internal-client.js';
import { nameIdFor, releasedAttributes } from './release.js';
import { encrypts, type ServiceProvider } from './service-providers.js';
import { BINDINGS, defaultAcs, logoutEndpoint } from './sp-metadata.js';
import { SamlState, type PendingSso, type SamlSession } from './state.js';
import { endOidcSession } from './logout.js';

export interface SamlRouteDeps {
  services: Services;
  provider: () => Provider;
  page: (req: Request, res: Response, pagePath?: string) => PageContext;
  log: Logger;
}

const MAX_RELAY_STATE = 1024;
const NEXT_PATH = '/saml/slo/next';
const CHAIN_ID = /^[A-Za-z0-9_-]{32}$/;
const random = () => crypto.randomBytes(32).toString('base64url');

function single(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * The SAML 2.0 identity provider under /saml: metadata, single sign-on (HTTP-Redirect and HTTP-POST), IdP-initiated
 * sign-on and single logout. It does not sign anyone in itself: a validated request becomes an authorization
 * request of Poort's own client `poort-saml`, so SAML and OpenID Connect share one session, one set of sign-in pages,
 * factors and policies; the callback turns the result into an assertion.
 */
export function samlRoutes(deps: SamlRouteDeps): {
  router: Router;
  /** after an OIDC logout ended session `uid`: where to send the browser to tell its SAML SPs, if any */
  afterOidcLogout: (uid: string, location: string) => Promise<string | undefined>;
} {
  const { services, log } = deps;
  const { config } = services;
  const issuer = config.server.issuer;
  const endpoints = idpEndpoints(issuer, config.saml.entity_id);
  const binding = new SpBinding(services.secrets);
  const state = new SamlState(services.kv, {
    pendingSeconds: config.oidc.ttl.interaction,
    sessionSeconds: config.oidc.ttl.session,
  });
  const nameKey = nameIdKey(services.secrets);
  const oidc = {
    issuer,
    tokenEndpoint: loopbackTokenEndpoint(config.server.host, config.server.port),
    clientId: SAML_CLIENT_ID,
    clientSecret: samlClientSecret(services.secrets),
    redirectUri: samlRedirectUri(issuer),
  };
  const router = express.Router();
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

  /** Sends the browser into the one sign-in flow as Poort's SAML client, with the SP bound to this request. */
  async function startSignIn(res: Response, pending: PendingSso) {
    const id = await state.savePending(pending);
    const acrValues = acrValuesFor(pending.requirement, config.oidc.acr);
    const params = new URLSearchParams({
      client_id: SAML_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: samlRedirectUri(issuer),
      state: id,
      nonce: pending.nonce,
      code_challenge: crypto.createHash('sha256').update(pending.verifier).digest('base64url'),
      code_challenge_method: 'S256',
      [SP_PARAM]: pending.entityId,
      [SP_MAC_PARAM]: binding.mac(id, pending.entityId),
      ...(acrValues ? { acr_values: acrValues } : {}),
      ...(pending.isPassive
        ? { prompt: 'none' }
        : pending.forceAuthn
          ? { prompt: 'login', max_age: '0' }
          : {}),
    });
    res.redirect(303, `/auth?${params.toString()}`);
  }

  /** A SAML error status to the SP's ACS (the request itself was sound): NoPassive, NoAuthnContext, RequestDenied. */
  async function sendStatus(
    req: Request,
    res: Response,
    pending: Pick<PendingSso, 'entityId' | 'acsUrl' | 'requestId' | 'relayState'>,
    subStatus: string,
    reason: string,
  ) {
    const { xml } = buildStatusResponse({
      idp: endpoints,
      signer: signer(),
      destination: pending.acsUrl,
      inResponseTo: pending.requestId,
      status: STATUS.responder,
      subStatus,
    });
    await audit(req, {
      action: 'saml.request',
      outcome: 'failure',
      reason,
      application: { id: pending.entityId, protocol: 'saml' },
      details: { answered: 'status', status: subStatus.split(':').pop() },
    });
    postForm(req, res, pending.acsUrl, {
      SAMLResponse: Buffer.from(xml).toString('base64'),
      RelayState: pending.relayState,
    });
  }

  router.get('/saml/metadata', (_req, res) => {
    const xml = idpMetadata(
      endpoints,
      services.samlCertificates.published(),
      config.saml.require_signed_requests,
    );
    res.set('Cache-Control', 'public, max-age=300').type('application/samlmetadata+xml').send(xml);
  });

  async function sso(req: Request, res: Response) {
    const raw = rawMessage(req, 'SAMLRequest');
    try {
      if (!raw) throw new Refusal('missing_message', 'no SAMLRequest');
      if ((raw.relayState?.length ?? 0) > MAX_RELAY_STATE)
        throw new Refusal('relay_state_too_long', 'RelayState is too long');
      const xml = decodeMessage(raw);
      const root = await parseMessage(xml, ['AuthnRequest']);
      const sp = await findSp(issuerOf(root));
      const signed = checkSignature(
        raw,
        root,
        xml,
        sp,
        config.saml.require_signed_requests || sp.metadata.authnRequestsSigned,
      );
      checkIssueInstant(root, sp.entityId);
      checkDestination(root, endpoints.ssoUrl, sp.entityId, signed);
      const request = readAuthnRequest(root, sp.entityId);
      const acsUrl = resolveAcs(sp, request, defaultAcs(sp.metadata).location);
      if (!(await state.claimRequestId(sp.entityId, request.id)))
        throw new Refusal('replayed_request', 'this request was seen before', sp.entityId);
      const pending: PendingSso = {
        entityId: sp.entityId,
        acsUrl,
        requestId: request.id,
        ...(raw.relayState ? { relayState: raw.relayState } : {}),
        requirement: 'none',
        ...(request.requestedAuthnContext ? { requestedAuthnContext: request.requestedAuthnContext } : {}),
        forceAuthn: request.forceAuthn,
        isPassive: request.isPassive,
        nonce: random(),
        verifier: random(),
        startedAt: Math.floor(Date.now() / 1000),
      };
      const requirement = requirementFor(request.requestedAuthnContext, config.oidc.acr);
      // A sound request Poort cannot satisfy is answered to the SP (and audited there), not refused with a page.
      if (requirement === undefined)
        return await sendStatus(req, res, pending, STATUS.noAuthnContext, 'no_authn_context');
      await audit(req, {
        action: 'saml.request',
        outcome: 'success',
        application: { id: sp.entityId, protocol: 'saml' },
        details: {
          binding: raw.binding,
          signed,
          force_authn: request.forceAuthn,
          is_passive: request.isPassive,
          ...(request.requestedAuthnContext
            ? { requested_authn_context: request.requestedAuthnContext.classRefs }
            : {}),
        },
      });
      await startSignIn(res, { ...pending, requirement });
    } catch (err) {
      if (err instanceof Refusal) return refuse(req, res, 'saml.request', err);
      throw err;
    }
  }

  router.get('/saml/sso', sso);
  router.post('/saml/sso', form, sso);

  router.get('/saml/init', async (req, res) => {
    const relayState = single(req.query.RelayState);
    try {
      if ((relayState?.length ?? 0) > MAX_RELAY_STATE)
        throw new Refusal('relay_state_too_long', 'RelayState is too long');
      const sp = await findSp(single(req.query.sp));
      await audit(req, {
        action: 'saml.request',
        outcome: 'success',
        application: { id: sp.entityId, protocol: 'saml' },
        details: { initiated_by: 'idp' },
      });
      await startSignIn(res, {
        entityId: sp.entityId,
        acsUrl: defaultAcs(sp.metadata).location,
        ...(relayState ? { relayState } : {}),
        requirement: 'none',
        forceAuthn: false,
        isPassive: false,
        nonce: random(),
        verifier: random(),
        startedAt: Math.floor(Date.now() / 1000),
      });
    } catch (err) {
      if (err instanceof Refusal) return refuse(req, res, 'saml.request', err);
      throw err;
    }
  });

  /** The oidc-provider session this browser has, to tie SAML sessions to it for logout. */
  async function oidcSessionUid(req: Request, res: Response): Promise<string | undefined> {
    const provider = deps.provider();
    const session = await provider.Session.get(provider.createContext(req, res) as never);
    return session.accountId ? session.uid : undefined;
  }

  router.get('/saml/callback', async (req, res) => {
    const pending = await state.takePending(single(req.query.state) ?? '');
    if (!pending) return errorPage(req, res, 400, 'session_expired');
    if (single(req.query.iss) && single(req.query.iss) !== issuer)
      return errorPage(req, res, 400, 'invalid_request');
    const error = single(req.query.error);
    if (error) {
      if (['login_required', 'interaction_required', 'consent_required'].includes(error))
        return sendStatus(
          req,
          res,
          pending,
          pending.isPassive ? STATUS.noPassive : STATUS.requestDenied,
          error,
        );
      return sendStatus(req, res, pending, STATUS.requestDenied, error);
    }
    const sp = await services.serviceProviders.find(pending.entityId);
    if (!sp) return errorPage(req, res, 400, 'unknown_sp');
    const signedIn = await redeemInternalCode(oidc, single(req.query.code) ?? '', pending);
    if (!signedIn.ok) {
      log.warn({ event: 'saml.callback', error: signedIn.error }, 'SAML sign-in not completed');
      return errorPage(req, res, 400, 'session_expired');
    }
    const identity = await services.directory.findById(signedIn.sub);
    if (!identity) return sendStatus(req, res, pending, STATUS.requestDenied, 'unknown_user');
    if (!acrSatisfies(signedIn.acr, pending.requirement, config.oidc.acr))
      return sendStatus(req, res, pending, STATUS.noAuthnContext, 'no_authn_context');
    if (pending.forceAuthn && signedIn.authTime < pending.startedAt)
      return sendStatus(req, res, pending, STATUS.requestDenied, 'not_fresh');
    const user = await services.users.findById(identity.id);
    const fullIdentity = {
      ...identity,
      givenName: user?.givenName ?? null,
      familyName: user?.familyName ?? null,
    };
    const nameId = nameIdFor(sp.settings.nameIdFormat, fullIdentity, sp.entityId, nameKey);
    const sessionIndex = samlId();
    const classRef = classRefFor(signedIn.acr, config.oidc.acr, pending.requestedAuthnContext);
    const { id, xml } = await buildLoginResponse({
      idp: endpoints,
      signer: signer(),
      sp,
      acsUrl: pending.acsUrl,
      ...(pending.requestId ? { inResponseTo: pending.requestId } : {}),
      nameId,
      sessionIndex,
      authTime: signedIn.authTime,
      authnContextClassRef: classRef,
      attributes: releasedAttributes(fullIdentity, sp.settings.attributes),
      sign: { assertion: sp.settings.signAssertion, response: sp.settings.signResponse },
      encrypt: encrypts(sp),
    });
    const oidcSession = await oidcSessionUid(req, res);
    await state.saveSession({
      sessionIndex,
      entityId: sp.entityId,
      userId: identity.id,
      nameId,
      ...(oidcSession ? { oidcSession } : {}),
      createdAt: Math.floor(Date.now() / 1000),
    });
    await audit(req, {
      action: 'saml.assertion.issued',
      outcome: 'success',
      actor: { type: 'user', id: identity.id, name: identity.username },
      subject: { id: identity.id, username: identity.username, known: true },
      application: { id: sp.entityId, protocol: 'saml' },
      correlation: correlationId(sessionIndex),
      details: {
        response_id: id,
        in_response_to: pending.requestId ?? null,
        name_id_format: sp.settings.nameIdFormat,
        authn_context: classRef,
        amr: signedIn.amr,
        attributes: sp.settings.attributes.map((a) => a.name),
        encrypted: encrypts(sp),
        initiated_by: pending.requestId ? 'sp' : 'idp',
      },
    });
    postForm(req, res, pending.acsUrl, {
      SAMLResponse: Buffer.from(xml).toString('base64'),
      RelayState: pending.relayState,
    });
  });

  /** Sends a logout message to the SP's SLO endpoint: HTTP-POST where it has one, else HTTP-Redirect. */
  function sendLogoutMessage(
    req: Request,
    res: Response,
    sp: ServiceProvider,
    param: 'SAMLRequest' | 'SAMLResponse',
    xml: string,
    relayState: string | undefined,
  ) {
    const endpoint = logoutEndpoint(sp.metadata)!;
    const location =
      param === 'SAMLResponse' ? (endpoint.responseLocation ?? endpoint.location) : endpoint.location;
    if (endpoint.binding === BINDINGS.post)
      return postForm(req, res, location, {
        [param]: Buffer.from(xml).toString('base64'),
        RelayState: relayState,
      });
    res.redirect(303, redirectUrl(location, param, xml, signer(), relayState));
  }

  async function slo(req: Request, res: Response) {
    const request = rawMessage(req, 'SAMLRequest');
    const response = rawMessage(req, 'SAMLResponse');
    try {
      if (!request && !response) throw new Refusal('missing_message', 'no SAMLRequest or SAMLResponse');
      if (response) {
        // The answer to a LogoutRequest Poort propagated (the session already ended here). It moves the logout chain
        // on, so it is checked like a request: signed as the SP's requests must be, recent, addressed here, and the
        // answer to the very request Poort sent this SP in this chain (RelayState = the chain, InResponseTo).
        const xml = decodeMessage(response);
        const root = await parseMessage(xml, ['LogoutResponse']);
        const sp = await findSp(issuerOf(root));
        const signed = checkSignature(response, root, xml, sp, config.saml.require_signed_requests);
        checkIssueInstant(root, sp.entityId);
        checkDestination(root, endpoints.sloUrl, sp.entityId, signed);
        const chain = response.relayState ?? '';
        const inResponseTo = attribute(root, 'InResponseTo');
        if (
          !CHAIN_ID.test(chain) ||
          !inResponseTo ||
          !(await state.takeAwaited(chain, sp.entityId, inResponseTo))
        )
          throw new Refusal(
            'unsolicited_response',
            'this LogoutResponse answers no logout request Poort sent',
            sp.entityId,
          );
        const status = statusCodeOf(root);
        await audit(req, {
          action: 'saml.logout',
          outcome: 'success',
          application: { id: sp.entityId, protocol: 'saml' },
          details: { message: 'LogoutResponse', status, signed },
        });
        return res.redirect(303, `${NEXT_PATH}?chain=${chain}`);
      }
      const raw = request!;
      if ((raw.relayState?.length ?? 0) > MAX_RELAY_STATE)
        throw new Refusal('relay_state_too_long', 'RelayState is too long');
      const xml = decodeMessage(raw);
      const root = await parseMessage(xml, ['LogoutRequest']);
      const sp = await findSp(issuerOf(root));
      const signed = checkSignature(raw, root, xml, sp, config.saml.require_signed_requests);
      checkIssueInstant(root, sp.entityId);
      checkDestination(root, endpoints.sloUrl, sp.entityId, signed);
      const logout = readLogoutRequest(root, sp.entityId);
      if (!(await state.claimRequestId(sp.entityId, logout.id)))
        throw new Refusal('replayed_request', 'this request was seen before', sp.entityId);
      if (!logoutEndpoint(sp.metadata))
        throw new Refusal(
          'unsupported_binding',
          'the service provider has no single logout service',
          sp.entityId,
        );
      // Bound to the live session: every SessionIndex must be one this SP was given, for the NameID it names,
      // within the single sign-on session of the browser that brings the request.
      const sessions = await Promise.all(logout.sessionIndexes.map((index) => state.findSession(index)));
      const browserSession = await oidcSessionUid(req, res);
      const matches =
        logout.sessionIndexes.length > 0 &&
        logout.nameId !== undefined &&
        browserSession !== undefined &&
        sessions.every(
          (s) =>
            s !== undefined &&
            s.entityId === sp.entityId &&
            s.nameId.value === logout.nameId!.value &&
            s.oidcSession === browserSession,
        );
      if (!matches) {
        await audit(req, {
          action: 'saml.logout',
          outcome: 'failure',
          reason: 'session_mismatch',
          application: { id: sp.entityId, protocol: 'saml' },
          details: { binding: raw.binding, signed },
        });
        const { xml: answer } = buildLogoutResponse({
          idp: endpoints,
          signer: signer(),
          destination: logoutEndpoint(sp.metadata)!.location,
          inResponseTo: logout.id,
          status: STATUS.requester,
        });
        return sendLogoutMessage(req, res, sp, 'SAMLResponse', answer, raw.relayState);
      }
      const first = sessions[0]!;
      const ended = first.oidcSession
        ? await endOidcSession(deps.provider(), first.oidcSession, log)
        : undefined;
      for (const s of sessions) await state.endSession(s!.sessionIndex);
      const others = first.oidcSession
        ? (await state.takeSessionsOf(first.oidcSession)).filter((s) => s.entityId !== sp.entityId)
        : [];
      await audit(req, {
        action: 'saml.logout',
        outcome: 'success',
        actor: { type: 'user', id: first.userId },
        subject: { id: first.userId, known: true },
        application: { id: sp.entityId, protocol: 'saml' },
        correlation: correlationId(first.sessionIndex),
        details: {
          binding: raw.binding,
          signed,
          oidc_session_ended: ended !== undefined,
          backchannel: ended?.notified ?? [],
          saml_propagated: others.map((o) => o.entityId),
        },
      });
      const toTell = await withLogoutEndpoint(others);
      if (toTell.length > 0) {
        const id = await state.saveChain({
          remaining: toTell,
          final: {
            entityId: sp.entityId,
            inResponseTo: logout.id,
            ...(raw.relayState ? { relayState: raw.relayState } : {}),
          },
        });
        return res.redirect(303, `${NEXT_PATH}?chain=${id}`);
      }
      const { xml: answer } = buildLogoutResponse({
        idp: endpoints,
        signer: signer(),
        destination: logoutEndpoint(sp.metadata)!.location,
        inResponseTo: logout.id,
        status: STATUS.success,
      });
      return sendLogoutMessage(req, res, sp, 'SAMLResponse', answer, raw.relayState);
    } catch (err) {
      if (err instanceof Refusal) return refuse(req, res, 'saml.logout', err);
      throw err;
    }
  }

  router.get('/saml/slo', slo);
  router.post('/saml/slo', form, slo);

  /** The SAML sessions whose SP can be told of a logout (it has a single logout service). */
  async function withLogoutEndpoint(sessions: SamlSession[]): Promise<SamlSession[]> {
    const found: SamlSession[] = [];
    for (const session of sessions) {
      const sp = await services.serviceProviders.find(session.entityId);
      if (sp && logoutEndpoint(sp.metadata)) found.push(session);
    }
    return found;
  }

  /**
   * One step of a logout chain: a LogoutRequest to the next SP of the ended session (which answers at /saml/slo with
   * the chain as RelayState), and at the end the browser goes where the logout began.
   */
  router.get(NEXT_PATH, async (req, res) => {
    const id = single(req.query.chain) ?? '';
    const step = await state.nextInChain(id);
    if (!step) return errorPage(req, res, 400, 'session_expired');
    if (step.next) {
      const sp = await services.serviceProviders.find(step.next.entityId);
      const endpoint = sp ? logoutEndpoint(sp.metadata) : undefined;
      if (!sp || !endpoint) return res.redirect(303, `${NEXT_PATH}?chain=${id}`);
      const { id: requestId, xml } = buildLogoutRequest({
        idp: endpoints,
        signer: signer(),
        destination: endpoint.location,
        nameId: step.next.nameId,
        sessionIndex: step.next.sessionIndex,
      });
      await audit(req, {
        action: 'saml.logout',
        outcome: 'success',
        actor: { type: 'system' },
        subject: { id: step.next.userId, known: true },
        application: { id: sp.entityId, protocol: 'saml' },
        correlation: correlationId(step.next.sessionIndex),
        details: { message: 'LogoutRequest', propagated: true },
      });
      await state.awaitResponse(id, { entityId: sp.entityId, requestId });
      return sendLogoutMessage(req, res, sp, 'SAMLRequest', xml, id);
    }
    const { final } = step.chain;
    if ('location' in final) return res.redirect(303, final.location);
    const sp = await services.serviceProviders.find(final.entityId);
    const endpoint = sp ? logoutEndpoint(sp.metadata) : undefined;
    if (!sp || !endpoint) return res.type('html').send(renderPage('logged-out', deps.page(req, res), {}));
    const { xml } = buildLogoutResponse({
      idp: endpoints,
      signer: signer(),
      destination: endpoint.location,
      inResponseTo: final.inResponseTo,
      status: STATUS.success,
    });
    return sendLogoutMessage(req, res, sp, 'SAMLResponse', xml, final.relayState);
  });

  /** An OIDC logout ended a session: its SAML sessions end too, and their SPs are told front-channel. */
  async function afterOidcLogout(uid: string, location: string): Promise<string | undefined> {
    const toTell = await withLogoutEndpoint(await state.takeSessionsOf(uid));
    if (toTell.length === 0) return undefined;
    const id = await state.saveChain({ remaining: toTell, final: { location } });
    return `${NEXT_PATH}?chain=${id}`;
  }

  // A body beyond the parser's limit is an oversized SAML message: refused like the others, never a 5xx.
  router.use('/saml', async (err: unknown, req: Request, res: Response, next: NextFunction) => {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large' || type === 'parameters.too.many')
      return refuse(
        req,
        res,
        req.path.startsWith('/slo') ? 'saml.logout' : 'saml.request',
        new Refusal('message_too_large', 'the request is too large'),
      );
    next(err);
  });

  return { router, afterOidcLogout };
}
