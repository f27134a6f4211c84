import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type Provider from 'oidc-provider';
import { readiness } from '../server/readiness.js';
import type { Services } from '../server/services.js';
import { isStoreUnavailable, RETRY_AFTER_SECONDS } from '../store/unavailable.js';
import type { Logger } from '../log/logger.js';
import { publicDir } from '../paths.js';
import { secondFactors } from '../mfa/kinds.js';
import { RecoveryCodes } from '../mfa/recovery.js';
import { SignInFlow } from '../signin/flow.js';
import { signInRoutes, type SignInRoutes } from '../signin/routes.js';
import { FORGOT_PATH, passwordForgotRoutes } from '../account/password-forgot-routes.js';
import { resetLinkSender } from '../account/password-reset-message.js';
import { passwordResetRoutes } from '../account/password-reset-routes.js';
import { PasswordResets } from '../account/password-reset.js';
import { signInEnrolment } from '../signin/enrolment-routes.js';
import { accountPages } from '../account/routes.js';
import { adminPages } from '../admin/routes.js';
import { ADMIN_CLIENT_ID } from '../admin/client.js';
import { ACCOUNT_CLIENT_ID } from '../account/client.js';
import { ACCOUNT_SESSION_SECONDS } from '../account/session.js';
import { EndedSignOns } from '../oidc/ended-sign-ons.js';
import { UpstreamSignOns } from '../directory/upstream/sign-ons.js';
import { scimRoutes } from '../scim/routes.js';
import type { SessionPolicyCheck } from '../oidc/step-up.js';
import { signInPolicy } from '../policy/enforce.js';
import { KnownDevices, SEEN_BROWSER_COOKIE } from '../policy/known-device.js';
import { SpBinding } from '../saml/client.js';
import { samlExtraParams } from '../saml/params.js';
import { samlRoutes } from '../saml/routes.js';
import { Throttle } from '../signin/throttle.js';
import { cidrMatcher } from './cidr.js';
import { clientAddress } from './client-address.js';
import { pageContext, renderPage } from './render.js';
import { noStore, securityHeaders } from './security-headers.js';

const KNOWN_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_redirect_uri',
  'session_expired',
  'csrf',
  'not_found',
  'unavailable',
  'access_denied',
]);

/** The paths Express serves; everything else is a protocol endpoint of oidc-provider. */
const OWN_PATHS = /^\/(signin|static|account|admin|scim|saml|healthz|readyz)(\/|\?|$)/;

export interface AppHandle {
  app: express.Express;
  handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** the contextual policy's say on single sign-on sessions, for oidc-provider's interaction check */
  sessionPolicy: SessionPolicyCheck;
  /** after an OIDC logout: where the browser goes to tell the session's SAML service providers, if anywhere */
  afterLogout: (sessionUid: string, location: string) => Promise<string | undefined>;
  /** a sign-in became a single sign-on session's (where upstream providers sign out with Poort) */
  signedIn?: (interactionUid: string, sessionUid: string, accountId: string) => Promise<void>;
  /** after an OIDC logout: ends the sessions of Poort's own pages (account, console) that the sign-on began */
  signOnEnded: (sids: ReadonlyMap<string, string>) => Promise<void>;
  /** the authorization parameters of the SAML front-end, with oidc-provider's check of them */
  extraParams: ReturnType<typeof samlExtraParams>;
  pages: {
    error(req: IncomingMessage, res: ServerResponse, error: { code: string; status: number }): string;
    logout(req: IncomingMessage, res: ServerResponse, form: string, clientName?: string): string;
    loggedOut(req: IncomingMessage, res: ServerResponse, clientName?: string): string;
    signIn: SignInRoutes['firstPage'];
  };
}

/**
 * Poort's HTTP surface: its own routes (pages, health) first, then oidc-provider for every protocol endpoint.
 * `provider` is read on every request, because a key rotation replaces it.
 */
export function createApp(services: Services, provider: () => Provider, log: Logger): AppHandle {
  const { config } = services;
  const https = config.server.issuer.startsWith('https:');
  const settings = {
    organisation: config.organisation.name,
    defaultLanguage: config.organisation.default_language,
    secureCookies: https,
  };
  const page = (req: IncomingMessage, res: ServerResponse, pagePath?: string) =>
    pageContext(req, res, settings, pagePath);
  const requestId = (res: ServerResponse) => String(res.getHeader('X-Request-Id') ?? '');

  const errorPage = (req: IncomingMessage, res: ServerResponse, error: { code: string; status: number }) => {
    const p = page(req, res);
    const key = KNOWN_ERRORS.has(error.code)
      ? error.code
      : error.status >= 500
        ? 'generic'
        : 'invalid_request';
    return renderPage('error', p, {
      title: p.t('error.title'),
      message: p.t(`error.${key}`),
      code: error.code,
      requestId: requestId(res),
    });
  };
  const showError = (req: Request, res: Response, status: number, code: string) => {
    res
      .status(status)
      .type('html')
      .send(errorPage(req, res, { code, status }));
  };

  const trusted = cidrMatcher(config.server.trust_proxy);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', (addr: string) => trusted(addr));
  const secure = securityHeaders({ https });

  app.use('/static', express.static(publicDir, { index: false, maxAge: '1d', fallthrough: false }));
  app.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const { ready, durable, ephemeral } = await readiness(services);
    if (!ready) log.warn({ event: 'readyz', durable, ephemeral }, 'a store is not reachable');
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ status: ready ? 'ready' : 'unavailable', durable, ephemeral });
  });

  const policy = signInPolicy(services, log);
  const throttle = new Throttle(services.kv, config.throttle);
  const resets = new PasswordResets(services.kv, services.hasher);
  const selfService = config.passwords.reset.self_service;
  // loadConfig refuses self-service without an e-mail sender
  const resetSender = resetLinkSender(config, log);
  const forgotSender = selfService.enabled ? resetSender : undefined;
  const flow = new SignInFlow(
    services.directory,
    throttle,
    services.audit,
    {
      acr: config.oidc.acr,
      maxUsernameLength: 256,
      maxPasswordLength: config.passwords.policy.max_length * 4,
    },
    log,
    {
      factors: services.factors,
      kinds: secondFactors(services, log),
      kv: services.kv,
      required: config.mfa.required,
      ttlSeconds: config.oidc.ttl.interaction,
      recovery: new RecoveryCodes(services.db, services.hasher),
    },
    policy.history,
    services.users,
  );
  app.use('/signin', noStore);
  const upstreamSignOns = services.upstream?.anySignsOut()
    ? new UpstreamSignOns(services.upstream, services.kv, config.oidc.ttl, services.audit, log)
    : undefined;
  const signIn = signInRoutes({
    provider,
    flow,
    directory: services.directory,
    audit: services.audit,
    throttle,
    acr: config.oidc.acr,
    csrfKey: services.secrets.csrfKey,
    page,
    showError,
    log,
    enrolment: signInEnrolment(services, flow),
    policy: policy.enforcement,
    knownDevices: policy.knownDevices,
    ...(config.notifications.new_sign_ins
      ? {
          seenBrowsers: new KnownDevices(
            services.secrets.csrfKey,
            { enabled: true, days: 365, secure: config.server.issuer.startsWith('https:') },
            SEEN_BROWSER_COOKIE,
          ),
        }
      : {}),
    serviceProviderName: async (entityId) => (await services.serviceProviders.find(entityId))?.settings.name,
    ...(forgotSender ? { forgotPassword: FORGOT_PATH } : {}),
    ...(services.upstream ? { upstream: services.upstream } : {}),
    ...(upstreamSignOns ? { upstreamSignOns } : {}),
    kv: services.kv,
  });
  app.use(signIn.router);
  const saml = samlRoutes({ services, provider, page, log, ...(upstreamSignOns ? { upstreamSignOns } : {}) });
  app.use(saml.router);
  app.use('/account', noStore);
  app.use(
    passwordResetRoutes({
      resets,
      users: services.users,
      hasher: services.hasher,
      policy: config.passwords.policy,
      audit: services.audit,
      throttle,
      csrfKey: services.secrets.csrfKey,
      page,
      showError,
      ...(forgotSender ? { forgotPath: FORGOT_PATH } : {}),
    }),
  );
  if (forgotSender) {
    app.use(
      passwordForgotRoutes({
        users: services.users,
        resets,
        sender: forgotSender,
        audit: services.audit,
        throttle: new Throttle(services.kv, selfService, 'reset-request'),
        csrfKey: services.secrets.csrfKey,
        issuer: config.server.issuer,
        secureCookies: https,
        lifetimeSeconds: selfService.link_lifetime,
        organisation: config.organisation.name,
        page,
        showError,
        log,
      }),
    );
  }
  app.use(
    accountPages(services, {
      handler: (kind) => flow.handler(kind),
      page,
      showError,
      log,
      history: policy.history,
    }),
  );

  if (config.scim.clients.length > 0) {
    app.use('/scim', noStore);
    app.use(
      scimRoutes({
        services,
        provider,
        log,
        ...(resetSender ? { welcome: { resets, sender: resetSender } } : {}),
      }),
    );
  }
  app.use('/admin', noStore);
  app.use(
    adminPages({
      services,
      page,
      showError,
      log,
      resets,
      resetSender,
    }),
  );

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const unavailable = isStoreUnavailable(err);
    const status = unavailable
      ? 503
      : ((err as { status?: number; statusCode?: number }).status ??
        (err as { statusCode?: number }).statusCode ??
        500);
    if (unavailable) {
      log.error({ err, requestId: requestId(res) }, 'a store is not reachable: answered 503');
      res.set('Retry-After', String(RETRY_AFTER_SECONDS));
    } else if (status >= 500) log.error({ err, requestId: requestId(res) }, 'request failed');
    if (res.headersSent) return res.end();
    const code =
      status === 404
        ? 'not_found'
        : status === 503
          ? 'unavailable'
          : status < 500
            ? 'invalid_request'
            : 'server_error';
    showError(req, res, status >= 400 && status < 600 ? status : 500, code);
  });

  const handlers = new WeakMap<Provider, ReturnType<Provider['callback']>>();
  /**
   * Every request: a request id, X-Forwarded-* only from trusted proxies (oidc-provider reads them itself in proxy
   * mode), strict headers; then Poort's own pages go to Express and the protocol endpoints straight to
   * oidc-provider, which has its own router and error handling and needs nothing of Express.
   */
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('X-Request-Id', crypto.randomUUID());
    const peer = req.socket.remoteAddress ?? '';
    if (!trusted(peer)) {
      delete req.headers['x-forwarded-for'];
      delete req.headers['x-forwarded-proto'];
      delete req.headers['x-forwarded-host'];
    } else if (req.headers['x-forwarded-for']) {
      // Keep only the client address: the nearest hop that is not a trusted proxy. Koa (inside oidc-provider) would
      // take the leftmost entry, which the client itself can write.
      req.headers['x-forwarded-for'] = clientAddress(peer, String(req.headers['x-forwarded-for']), trusted);
    }
    secure(res);
    if (OWN_PATHS.test(req.url ?? '/')) return app(req, res);
    const current = provider();
    let handler = handlers.get(current);
    if (!handler) {
      handler = current.callback();
      handlers.set(current, handler);
    }
    return handler(req, res);
  };

  return {
    app,
    handle,
    sessionPolicy: policy.sessionCheck,
    extraParams: samlExtraParams(new SpBinding(services.secrets)),
    // the SAML service providers of the session first, then the upstream provider it signed in at, then on
    afterLogout: async (uid, location) => {
      const upstreamTo = await upstreamSignOns?.afterLogout(uid, location);
      return (await saml.afterOidcLogout(uid, upstreamTo ?? location)) ?? upstreamTo;
    },
    ...(upstreamSignOns
      ? { signedIn: (interaction, session, account) => upstreamSignOns.adopt(interaction, session, account) }
      : {}),
    signOnEnded: async (sids) => {
      const own = [ACCOUNT_CLIENT_ID, ADMIN_CLIENT_ID].flatMap((id) => sids.get(id) ?? []);
      if (own.length > 0)
        await new EndedSignOns(services.kv).end(
          own,
          Math.max(ACCOUNT_SESSION_SECONDS, config.admin.session_lifetime),
        );
    },
    pages: {
      error: errorPage,
      logout: (req, res, form, clientName) => {
        const p = page(req, res);
        return renderPage('logout', p, { form, clientName, host: new URL(config.server.issuer).host });
      },
      loggedOut: (req, res, clientName) => renderPage('logged-out', page(req, res), { clientName }),
      signIn: signIn.firstPage,
    },
  };
}
