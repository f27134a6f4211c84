import express, { type Request, type Response, type Router } from 'express';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { csrfToken, verifyCsrfToken } from '../http/csrf.js';
import type { PageContext } from '../http/render.js';
import { renderPage } from '../http/render.js';
import type { Directory } from '../directory/identity.js';
import type { Logger } from '../log/logger.js';
import { SCOPES } from '../oidc/claims.js';
import { correlationId } from '../audit/event.js';
import { describeSource } from '../policy/source.js';
import type { AttemptContext, SignInFlow } from './flow.js';

export interface SignInRouteDeps {
  /** the current provider: it is replaced when signing keys change */
  provider: () => Provider;
  flow: SignInFlow;
  directory: Directory;
  csrfKey: Buffer;
  page: (req: Request, res: Response, pagePath?: string) => PageContext;
  showError: (req: Request, res: Response, status: number, code: string) => void;
  log: Logger;
}

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 10 });

function attemptContext(req: Request, interaction: Interaction): AttemptContext {
  return {
    source: describeSource(req.ip ?? '', req.headers),
    application: { id: String(interaction.params.client_id), protocol: 'oidc' },
    correlation: correlationId(interaction.uid),
  };
}

function field(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

/**
 * The pages of the sign-in flow under /signin/:uid. oidc-provider opens the interaction and binds it to a cookie;
 * these handlers only translate between HTTP and the flow, and hand the result back to the provider.
 */
export function signInRoutes(deps: SignInRouteDeps): Router {
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
    const client = await deps.provider().Client.find(String(interaction.params.client_id));
    return client?.clientName ?? client?.clientId;
  }

  function signInPage(
    req: Request,
    res: Response,
    interaction: Interaction,
    name: string | undefined,
    status: number,
    extra: Record<string, unknown>,
  ) {
    const page = deps.page(req, res, `/signin/${interaction.uid}`);
    res
      .status(status)
      .type('html')
      .send(
        renderPage('signin', page, {
          action: `/signin/${interaction.uid}/login`,
          csrf: csrfToken(deps.csrfKey, interaction.uid),
          clientName: name,
          username: typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint : '',
          ...extra,
        }),
      );
  }

  router.get('/signin/:uid', async (req, res) => {
    const interaction = await load(req, res);
    if (!interaction) return;
    const name = await clientName(interaction);
    if (interaction.prompt.name === 'login') return signInPage(req, res, interaction, name, 200, {});
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

  router.post('/signin/:uid/login', form, async (req, res) => {
    const interaction = await load(req, res);
    if (!interaction) return;
    if (!verifyCsrfToken(deps.csrfKey, interaction.uid, field(req.body, 'csrf')))
      return deps.showError(req, res, 403, 'csrf');
    if (interaction.prompt.name !== 'login') return deps.showError(req, res, 400, 'invalid_request');
    const username = field(req.body, 'username');
    const attempt = attemptContext(req, interaction);
    const outcome = await flow.passwordStep(username, field(req.body, 'password'), attempt);
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
      case 'failed':
        return signInPage(req, res, interaction, await clientName(interaction), 401, {
          username,
          error: { message: page().t('signin.error.invalid_credentials') },
        });
      case 'authenticated': {
        const { authentication } = outcome;
        await flow.completed(authentication, attempt);
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
          },
          { mergeWithLastSubmission: false },
        );
        return;
      }
    }
  });

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

  return router;
}
