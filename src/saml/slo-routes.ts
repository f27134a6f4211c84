import type { Request, Response, Router } from 'express';
import { correlationId } from '../audit/event.js';
import { renderPage } from '../http/render.js';
import { buildLogoutRequest, buildLogoutResponse, redirectUrl, STATUS } from './idp.js';
import { readLogoutRequest, Refusal, statusCodeOf } from './inbound.js';
import { attribute } from './xml.js';
import type { ServiceProvider } from './service-providers.js';
import { BINDINGS, logoutEndpoint } from './sp-metadata.js';
import type { SamlSession } from './state.js';
import { endOidcSession } from '../oidc/end-session.js';
import { MAX_RELAY_STATE, single, type SamlContext } from './route-context.js';

const NEXT_PATH = '/saml/slo/next';
const CHAIN_ID = /^[A-Za-z0-9_-]{32}$/;

/**
 * Single logout: LogoutRequests from an SP (bound to the live session), the logout chain that tells the session's
 * other SPs, their LogoutResponses, and the chain after an OIDC logout.
 */
export function sloRoutes(
  router: Router,
  ctx: SamlContext,
): { afterOidcLogout: (uid: string, location: string) => Promise<string | undefined> } {
  const { deps, services, config, log, endpoints, state, form, signer, audit, errorPage, refuse, postForm } =
    ctx;
  const { rawMessage, readMessage, oidcSessionUid } = ctx;

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

  /** The LogoutResponse to an SP's LogoutRequest, sent to its single logout service (which it must have). */
  function answerLogout(
    req: Request,
    res: Response,
    sp: ServiceProvider,
    inResponseTo: string,
    status: string,
    relayState: string | undefined,
  ) {
    const { xml } = buildLogoutResponse({
      idp: endpoints,
      signer: signer(),
      destination: logoutEndpoint(sp.metadata)!.location,
      inResponseTo,
      status,
    });
    return sendLogoutMessage(req, res, sp, 'SAMLResponse', xml, relayState);
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
        const { root, sp, signed } = await readMessage(
          response,
          ['LogoutResponse'],
          endpoints.sloUrl,
          () => config.saml.require_signed_requests,
        );
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
      const { root, sp, signed } = await readMessage(
        raw,
        ['LogoutRequest'],
        endpoints.sloUrl,
        () => config.saml.require_signed_requests,
      );
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
        return answerLogout(req, res, sp, logout.id, STATUS.requester, raw.relayState);
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
      const final = {
        entityId: sp.entityId,
        inResponseTo: logout.id,
        ...(raw.relayState ? { relayState: raw.relayState } : {}),
      };
      // the other SPs first, then the upstream provider the session began at (where it signs out with Poort),
      // then the LogoutResponse to this SP
      const signOns = deps.upstreamSignOns;
      if (first.oidcSession && signOns) {
        const upstreamTo = await signOns.afterLogout(
          first.oidcSession,
          async () => `${NEXT_PATH}?chain=${await state.saveChain({ remaining: [], final })}`,
        );
        if (upstreamTo) {
          if (toTell.length === 0) return res.redirect(303, upstreamTo);
          const id = await state.saveChain({ remaining: toTell, final: { location: upstreamTo } });
          return res.redirect(303, `${NEXT_PATH}?chain=${id}`);
        }
      }
      if (toTell.length > 0) {
        const id = await state.saveChain({ remaining: toTell, final });
        return res.redirect(303, `${NEXT_PATH}?chain=${id}`);
      }
      return answerLogout(req, res, sp, logout.id, STATUS.success, raw.relayState);
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
    if (!sp || !logoutEndpoint(sp.metadata))
      return res.type('html').send(renderPage('logged-out', deps.page(req, res), {}));
    return answerLogout(req, res, sp, final.inResponseTo, STATUS.success, final.relayState);
  });

  /** An OIDC logout ended a session: its SAML sessions end too, and their SPs are told front-channel. */
  async function afterOidcLogout(uid: string, location: string): Promise<string | undefined> {
    const toTell = await withLogoutEndpoint(await state.takeSessionsOf(uid));
    if (toTell.length === 0) return undefined;
    const id = await state.saveChain({ remaining: toTell, final: { location } });
    return `${NEXT_PATH}?chain=${id}`;
  }

  return { afterOidcLogout };
}
