import crypto from 'node:crypto';
import type { Request, Response, Router } from 'express';
import { correlationId } from '../audit/event.js';
import { loopbackTokenEndpoint } from '../account/oidc.js';
import { satisfies } from '../mfa/strength.js';
import { acrValuesFor, classRefFor, requirementFor } from './authn-context.js';
import {
  nameIdKey,
  SAML_CLIENT_ID,
  samlClientSecret,
  samlRedirectUri,
  SP_MAC_PARAM,
  SP_PARAM,
  SP_REQUIREMENT_PARAM,
  SpBinding,
} from './client.js';
import { buildLoginResponse, buildStatusResponse, samlId, STATUS } from './idp.js';
import { readAuthnRequest, Refusal, resolveAcs } from './inbound.js';
import { redeemInternalCode } from '../oidc/internal-client.js';
import { nameIdFor, releasedAttributes } from './release.js';
import { encrypts } from './service-providers.js';
import { defaultAcs } from './sp-metadata.js';
import type { PendingSso } from './state.js';
import { MAX_RELAY_STATE, random, single, type SamlContext } from './route-context.js';

/**
 * Single sign-on: SP-initiated (HTTP-Redirect and HTTP-POST) and IdP-initiated. A validated request becomes an
 * authorization request of Poort's own client `poort-saml`; the callback turns the result into an assertion.
 */
export function ssoRoutes(router: Router, ctx: SamlContext): void {
  const { services, config, issuer, endpoints, state, form, signer, audit, errorPage, refuse, postForm } =
    ctx;
  const { rawMessage, readMessage, findSp, signedInWith, log } = ctx;
  const binding = new SpBinding(services.secrets);
  const nameKey = nameIdKey(services.secrets);
  const oidc = {
    issuer,
    tokenEndpoint: loopbackTokenEndpoint(config.server.host, config.server.port),
    clientId: SAML_CLIENT_ID,
    clientSecret: samlClientSecret(services.secrets),
    redirectUri: samlRedirectUri(issuer),
  };

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
      // TOTP has no acr of its own (acr_values asks for any second factor): say what the SP asked for
      ...(pending.requirement === 'totp' ? { [SP_REQUIREMENT_PARAM]: pending.requirement } : {}),
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

  async function sso(req: Request, res: Response) {
    const raw = rawMessage(req, 'SAMLRequest');
    try {
      if (!raw) throw new Refusal('missing_message', 'no SAMLRequest');
      if ((raw.relayState?.length ?? 0) > MAX_RELAY_STATE)
        throw new Refusal('relay_state_too_long', 'RelayState is too long');
      const { root, sp, signed } = await readMessage(
        raw,
        ['AuthnRequest'],
        endpoints.ssoUrl,
        (sp) => config.saml.require_signed_requests || sp.metadata.authnRequestsSigned,
      );
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
    const { strength, sessionUid: oidcSession } = await signedInWith(req, res, signedIn);
    if (!satisfies(strength, pending.requirement))
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
    const classRef = classRefFor(strength, config.oidc.acr, pending.requestedAuthnContext);
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
}
