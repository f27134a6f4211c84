import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Request, type Response, type Router } from 'express';
import type Provider from 'oidc-provider';
import { errors, type InteractionResults } from 'oidc-provider';
import { csrfToken, verifyCsrfToken } from '../http/csrf.js';
import type { PageContext } from '../http/render.js';
import { renderPage } from '../http/render.js';
import type { AuditLog } from '../audit/log.js';
import type { Directory, Identity } from '../directory/identity.js';
import type { Throttle } from './throttle.js';
import type { Logger } from '../log/logger.js';
import { SCOPES } from '../oidc/claims.js';
import type { AttemptContext, Authentication, SignInFlow } from './flow.js';
import { satisfies, type AcrValues, type Requirement } from '../mfa/strength.js';
import { STEP_UP_REASON } from '../oidc/step-up.js';
import type { PolicyRequest } from '../policy/context.js';
import type { Enforcement, PolicyEnforcement } from '../policy/enforce.js';
import type { KnownDevices } from '../policy/known-device.js';
import { secondFactorRoutes } from './second-factor-routes.js';
import { enrolmentRoutes, type SignInEnrolment } from './enrolment-routes.js';
import { passkeyRoutes } from './passkey-routes.js';
import { upstreamRoutes } from './upstream-routes.js';
import type { UpstreamDirectory } from '../directory/upstream/directory.js';
import type { UpstreamSignOns } from '../directory/upstream/sign-ons.js';
import type { KeyValueStore } from '../store/kv.js';
import { attemptContext, field, form, rememberAsked, type Interaction } from './request.js';
import { applicationOf, requestedRequirement } from '../saml/client.js';
import type { LoginResult } from '../oidc/session-strength.js';

export interface SignInRouteDeps {
  /** the current provider: it is replaced when signing keys change */
  provider: () => Provider;
  flow: SignInFlow;
  directory: Directory;
  /** the same trail and throttle the flow uses, for the sign-ins that bypass it (passkeys) */
  audit: AuditLog;
  throttle: Throttle;
  acr: AcrValues;
  csrfKey: Buffer;
  page: (req: IncomingMessage, res: ServerResponse, pagePath?: string) => PageContext;
  showError: (req: Request, res: Response, status: number, code: string) => void;
  log: Logger;
  /** enrolment during sign-in, for users without a factor strong enough, where it is allowed */
  enrolment: SignInEnrolment;
  /** contextual policies: asked after the first factor, and for a step-up */
  policy: PolicyEnforcement;
  /** "remember this device" after a multi-factor sign-in */
  knownDevices: KnownDevices;
  /** the browsers accounts signed in with before, where new sign-ins are told (notifications.new_sign_ins) */
  seenBrowsers?: KnownDevices;
  /** the display name of a SAML service provider, for sign-ins Poort's SAML front-end began for it */
  serviceProviderName?: (entityId: string) => Promise<string | undefined>;
  /** the "Forgot your password?" page, linked from the sign-in page when self-service resets are on */
  forgotPassword?: string;
  /** upstream OpenID providers: a button each on the sign-in page */
  upstream?: UpstreamDirectory;
  /** sign-ins at providers that sign out with Poort (`sign_out`), kept for the logout of their sessions */
  upstreamSignOns?: UpstreamSignOns;
  /** where a sign-in at an upstream provider waits for the browser to come back */
  kv: KeyValueStore;
}

/** What the policy context reads of a request: Express has worked out the client address (`trust proxy`). */
function policyRequest(req: Request): PolicyRequest {
  return { ip: req.ip ?? '', peer: req.socket.remoteAddress ?? '', headers: req.headers };
}

/** The first factor is done: on to the second factor the policy or the application asks for, or finish. */
export type AfterFirstFactor = (
  req: Request,
  res: Response,
  interaction: Interaction,
  authentication: Authentication,
  enforcement: Enforcement | undefined,
  attempt: AttemptContext,
) => Promise<void>;

/** What the routes of one step of a sign-in (second factor, passkey, enrolment) get from the sign-in routes. */
export interface StepRouteDeps extends SignInRouteDeps {
  load(req: Request, res: Response): Promise<Interaction | undefined>;
  attemptContext(req: Request, interaction: Interaction): AttemptContext;
  finishLogin(
    req: Request,
    res: Response,
    authentication: Authentication,
    attempt: AttemptContext,
  ): Promise<void>;
}

/**
 * The pages of the sign-in flow under /signin/:uid. oidc-provider opens the interaction and binds it to a cookie;
 * these handlers only translate between HTTP and the flow, and hand the result back to the provider.
 */
export interface SignInRoutes {
  router: Router;
  /**
   * The sign-in form of a new interaction, for oidc-provider to show at the authorization endpoint itself instead of
   * redirecting the browser to /signin/:uid first (one round trip less); undefined where /signin/:uid decides more
   * than the form (a step-up, consent).
   */
  firstPage(req: IncomingMessage, res: ServerResponse, interaction: Interaction): Promise<string | undefined>;
}

export function signInRoutes(deps: SignInRouteDeps): SignInRoutes {
  const router = express.Router();
  const { flow } = deps;

  async function load(req: Request, res: Response): Promise<Interaction | undefined> {
    try {
      const interaction = await deps.provider().interactionDetails(req, res);
      if (interaction.uid !== req.params.uid) throw new errors.SessionNotFound('interaction mismatch');
      return interaction;
    } catch (err) {
      if (err instanceof errors.SessionNotFound || err instanceof errors.InvalidRequest) {
        deps.showError(req, res, 400, 'session_expired');
        return undefined;
      }
      throw err;
    }
  }

  async function clientName(interaction: Interaction): Promise<string | undefined> {
    const application = applicationOf(interaction.params);
    if (application.protocol === 'saml')
      return (await deps.serviceProviderName?.(application.id)) ?? application.id;
    const client = await deps.provider().Client.find(String(interaction.params.client_id));
    return client?.clientName ?? client?.clientId;
  }

  function signInHtml(
    req: IncomingMessage,
    res: ServerResponse,
    interaction: Interaction,
    name: string | undefined,
    extra: Record<string, unknown>,
  ): string {
    const page = deps.page(req, res, `/signin/${interaction.uid}`);
    return renderPage('signin', page, {
      action: `/signin/${interaction.uid}/login`,
      csrf: csrfToken(deps.csrfKey, interaction.uid),
      clientName: name,
      username: typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint : '',
      // with the way back to this sign-in
      forgotPassword:
        deps.forgotPassword && `${deps.forgotPassword}?from=${encodeURIComponent(interaction.uid)}`,
      upstream: (deps.upstream?.list() ?? []).map((p) => ({
        ...p,
        action: `/signin/${interaction.uid}/upstream/${p.id}`,
      })),
      ...extra,
    });
  }

  function signInPage(
    req: Request,
    res: Response,
    interaction: Interaction,
    name: string | undefined,
    status: number,
    extra: Record<string, unknown>,
  ) {
    res
      .status(status)
      .type('html')
      .send(signInHtml(req, res, interaction, name, extra));
  }

  /** Signed in already, but an application (acr_values) or the policy asks for more: only the second factor is missing. */
  function isStepUp(interaction: Interaction): boolean {
    const reasons = interaction.prompt.reasons;
    return (
      interaction.prompt.name === 'login' &&
      interaction.session?.accountId !== undefined &&
      reasons.length === 1 &&
      reasons[0] === STEP_UP_REASON
    );
  }

  /** A contextual policy refused the sign-in (already audited): a clear page, with the rule's message if it has one. */
  function showDenied(req: Request, res: Response, enforcement: Enforcement) {
    const page = deps.page(req, res, `/signin/${String(req.params.uid)}`);
    const key = enforcement.denied?.message;
    const message = key && page.t(key) !== key ? page.t(key) : page.t('policy.denied.text');
    const requestId = String(res.getHeader('X-Request-Id') ?? '');
    res
      .status(403)
      .type('html')
      .send(renderPage('denied', page, { message, requestId }));
  }

  /** Asks the active policy about this attempt of `identity`. */
  function decide(req: Request, identity: Identity, attempt: AttemptContext): Promise<Enforcement> {
    return deps.policy.decide(policyRequest(req), identity, attempt.application);
  }

  router.get('/signin/:uid', async (req, res) => {
    const interaction = await load(req, res);
    if (!interaction) return;
    const name = await clientName(interaction);
    if (interaction.prompt.name === 'login') {
      // a step-up needs only the second factor — unless the policy refuses this attempt outright
      const accountId = interaction.session?.accountId;
      if (accountId && isStepUp(interaction)) {
        const identity = await deps.directory.findById(accountId);
        if (identity) {
          const attempt = attemptContext(req, interaction);
          const enforcement = await decide(req, identity, attempt);
          if (enforcement.denied) {
            await flow.denied(identity, enforcement, attempt);
            return showDenied(req, res, enforcement);
          }
          const sessionAmr = (interaction.session as { amr?: string[] } | undefined)?.amr ?? ['pwd'];
          const requirement = await flow.requirementFor(
            identity,
            requestedStrength(interaction),
            enforcement,
          );
          await flow.startSecondFactor(interaction.uid, {
            userId: identity.id,
            username: identity.username,
            requirement,
            amr: sessionAmr,
            policy: enforcement.audit,
          });
          return res.redirect(303, `/signin/${interaction.uid}/mfa`);
        }
      }
      return signInPage(req, res, interaction, name, 200, {});
    }
    if (interaction.prompt.name === 'consent') {
      const details = interaction.prompt.details as { missingOIDCScope?: string[] };
      // Native applications are asked about on every sign-in, even when their grant covers every scope (RFC 8252
      // §8.6: another program on the device may listen on their loopback port): then show all they ask for.
      const requested = String(interaction.params.scope ?? '')
        .split(' ')
        .filter((scope) => SCOPES.includes(scope));
      const identity = interaction.session?.accountId
        ? await deps.directory.findById(interaction.session.accountId)
        : undefined;
      const page = deps.page(req, res);
      res.type('html').send(
        renderPage('consent', page, {
          action: `/signin/${interaction.uid}/consent`,
          csrf: csrfToken(deps.csrfKey, interaction.uid),
          clientName: name,
          scopes: details.missingOIDCScope ?? requested,
          user: identity ? (identity.name ?? identity.username) : undefined,
        }),
      );
      return;
    }
    deps.showError(req, res, 400, 'invalid_request');
  });

  // Sign-in at upstream providers; built before the password form's handler, which sends their domains there.
  const upstream =
    deps.upstream &&
    upstreamRoutes({
      ...deps,
      upstream: deps.upstream,
      load,
      attemptContext,
      finishLogin,
      afterFirstFactor,
      signInPage: async (req, res, interaction, status, extra) =>
        signInPage(req, res, interaction, await clientName(interaction), status, extra),
      showDenied,
      decide,
    });

  router.post('/signin/:uid/login', form, async (req, res) => {
    const interaction = await load(req, res);
    if (!interaction) return;
    if (!verifyCsrfToken(deps.csrfKey, interaction.uid, field(req.body, 'csrf')))
      return deps.showError(req, res, 403, 'csrf');
    if (interaction.prompt.name !== 'login') return deps.showError(req, res, 400, 'invalid_request');
    const username = field(req.body, 'username');
    // home realm discovery: an address in a provider's domain signs in there (the password typed is not used)
    const home = deps.upstream?.providerForUsername(username);
    if (upstream && home) return upstream.start(req, res, interaction, home, username.trim());
    const attempt = attemptContext(req, interaction);
    const outcome = await flow.passwordStep(username, field(req.body, 'password'), attempt, (identity) =>
      decide(req, identity, attempt),
    );
    const page = () => deps.page(req, res, `/signin/${interaction.uid}`);
    switch (outcome.kind) {
      case 'missing':
        return signInPage(req, res, interaction, await clientName(interaction), 400, {
          username,
          error: { message: page().t('signin.error.missing') },
        });
      case 'throttled':
        res.set('Retry-After', String(outcome.retryAfterSeconds));
        return signInPage(req, res, interaction, await clientName(interaction), 429, {
          username,
          error: { message: page().t('signin.error.throttled', { seconds: outcome.retryAfterSeconds }) },
        });
      case 'unavailable':
        res.set('Retry-After', '30');
        return signInPage(req, res, interaction, await clientName(interaction), 503, {
          username,
          error: { message: page().t('signin.error.directory_unavailable') },
        });
      case 'failed':
        return signInPage(req, res, interaction, await clientName(interaction), 401, {
          username,
          error: { message: page().t('signin.error.invalid_credentials') },
        });
      case 'denied':
        return showDenied(req, res, outcome.enforcement);
      case 'authenticated':
        return afterFirstFactor(req, res, interaction, outcome.authentication, outcome.enforcement, attempt);
    }
  });

  /**
   * The first factor is done (a password, a sign-in at an upstream provider): on to the second factor the policy
   * or the application asks for, or finish.
   */
  async function afterFirstFactor(
    req: Request,
    res: Response,
    interaction: Interaction,
    authentication: Authentication,
    enforcement: Enforcement | undefined,
    attempt: AttemptContext,
  ): Promise<void> {
    const requirement = await flow.requirementFor(
      authentication.identity,
      requestedStrength(interaction),
      enforcement,
    );
    // a trusted upstream provider's multi-factor sign-in may already be strong enough
    if (!satisfies(authentication.strength, requirement)) {
      await flow.startSecondFactor(interaction.uid, {
        userId: authentication.identity.id,
        username: authentication.identity.username,
        requirement,
        amr: authentication.amr,
        ...(authentication.policy ? { policy: authentication.policy } : {}),
      });
      return res.redirect(303, `/signin/${interaction.uid}/mfa`);
    }
    return finishLogin(req, res, authentication, attempt);
  }

  /**
   * The sign-in is done: audit it and hand it back to the protocol, which answers the application. A sign-in that
   * carries no decision asks the policy now: a password-less passkey (its one step is also its first factor; it
   * satisfies any second factor a policy asks, but not a denial), or an enrolment at sign-in (which keeps none).
   * After a multi-factor sign-in the browser is remembered, where configured.
   */
  async function finishLogin(
    req: Request,
    res: Response,
    authentication: Authentication,
    attempt: AttemptContext,
  ) {
    let { policy } = authentication;
    if (!policy) {
      const enforcement = await decide(req, authentication.identity, attempt);
      if (enforcement.denied) {
        await flow.denied(authentication.identity, enforcement, attempt);
        return showDenied(req, res, enforcement);
      }
      policy = enforcement.audit;
    }
    const { seenBrowsers } = deps;
    const userId = authentication.identity.id;
    const newBrowser = seenBrowsers
      ? !seenBrowsers.isKnown(req.headers.cookie, userId, attempt.source.user_agent)
      : undefined;
    await flow.completed({ ...authentication, policy }, attempt, newBrowser ? { newBrowser } : {});
    // remembered again at every sign-in: a year from the last one
    const seen = seenBrowsers?.remember(req.headers.cookie, userId, attempt.source.user_agent);
    if (seen) res.appendHeader('Set-Cookie', seen);
    // only where the user asked for it on the second-factor form (not on a shared computer)
    if (authentication.amr.includes('mfa') && rememberAsked(req)) {
      const cookie = deps.knownDevices.remember(
        req.headers.cookie,
        authentication.identity.id,
        attempt.source.user_agent,
      );
      if (cookie) res.appendHeader('Set-Cookie', cookie);
    }
    await deps.provider().interactionFinished(
      req,
      res,
      {
        login: {
          accountId: authentication.identity.id,
          acr: authentication.acr,
          amr: authentication.amr,
          ts: authentication.authTime,
          remember: true,
        },
        ...(authentication.strength ? { strength: authentication.strength } : {}),
      } satisfies InteractionResults & LoginResult,
      { mergeWithLastSubmission: false },
    );
  }

  function requestedStrength(interaction: Interaction): Requirement {
    return requestedRequirement(interaction.params, deps.acr);
  }

  router.use(
    secondFactorRoutes({
      ...deps,
      load,
      attemptContext,
      finishLogin,
      requestedStrength,
    }),
  );
  router.use(passkeyRoutes({ ...deps, load, attemptContext, finishLogin }));
  if (upstream) router.use(upstream.router);
  router.use(enrolmentRoutes({ ...deps, load, attemptContext, finishLogin }));

  router.post('/signin/:uid/consent', form, async (req, res) => {
    const interaction = await load(req, res);
    if (!interaction) return;
    if (!verifyCsrfToken(deps.csrfKey, interaction.uid, field(req.body, 'csrf')))
      return deps.showError(req, res, 403, 'csrf');
    if (interaction.prompt.name !== 'consent' || !interaction.session?.accountId)
      return deps.showError(req, res, 400, 'invalid_request');
    const provider = deps.provider();
    const identity = await deps.directory.findById(interaction.session.accountId);
    const requested = (interaction.prompt.details as { missingOIDCScope?: string[] }).missingOIDCScope ?? [];
    if (field(req.body, 'decision') !== 'allow') {
      await flow.consent(identity, false, requested, attemptContext(req, interaction));
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'the user denied access' },
        { mergeWithLastSubmission: true },
      );
      return;
    }
    const details = interaction.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const grant = interaction.grantId
      ? await provider.Grant.find(interaction.grantId)
      : new provider.Grant({
          accountId: interaction.session.accountId,
          clientId: String(interaction.params.client_id),
        });
    if (!grant) return deps.showError(req, res, 400, 'session_expired');
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {}))
      grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    await flow.consent(identity, true, requested, attemptContext(req, interaction));
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  });

  return {
    router,
    async firstPage(req, res, interaction) {
      if (interaction.prompt.name !== 'login' || isStepUp(interaction)) return undefined;
      return signInHtml(req, res, interaction, await clientName(interaction), {});
    },
  };
}
