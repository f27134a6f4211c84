import express, { type Request, type Response, type Router } from 'express';
import { csrfToken, verifyCsrfToken } from '../http/csrf.js';
import { renderPage } from '../http/render.js';
import { WebauthnFactor } from '../mfa/webauthn/factor.js';
import { PasskeySignIn } from './passkey.js';
import { field, form, type Interaction } from './request.js';
import type { StepRouteDeps } from './routes.js';

/**
 * Sign-in with a passkey from the sign-in page, without a password. The page's script asks for the ceremony's
 * options (POST /signin/:uid/passkey/options, a fresh challenge bound to this pending sign-in) and posts the
 * browser's answer to /signin/:uid/passkey, protected by the same CSRF token as the password form.
 */
export function passkeyRoutes(deps: StepRouteDeps): Router {
  const router = express.Router();
  const handler = deps.flow.handler('webauthn');
  const webauthn = handler instanceof WebauthnFactor && handler.passkeySignIn ? handler : undefined;
  if (!webauthn) return router;
  const passkeys = new PasskeySignIn({
    directory: deps.directory,
    audit: deps.audit,
    throttle: deps.throttle,
    webauthn,
    acr: deps.acr,
  });

  /** The pending sign-in, when it still waits for someone to sign in and the form is genuine. */
  async function signingIn(req: Request, res: Response): Promise<Interaction | undefined> {
    const interaction = await deps.load(req, res);
    if (!interaction) return undefined;
    if (!verifyCsrfToken(deps.csrfKey, interaction.uid, field(req.body, 'csrf'))) {
      deps.showError(req, res, 403, 'csrf');
      return undefined;
    }
    if (interaction.prompt.name !== 'login') {
      deps.showError(req, res, 400, 'invalid_request');
      return undefined;
    }
    return interaction;
  }

  router.post('/signin/:uid/passkey/options', form, async (req, res) => {
    const interaction = await signingIn(req, res);
    if (!interaction) return;
    res.json(await passkeys.options(interaction.uid));
  });

  router.post('/signin/:uid/passkey', form, async (req, res) => {
    const interaction = await signingIn(req, res);
    if (!interaction) return;
    const attempt = deps.attemptContext(req, interaction);
    const outcome = await passkeys.step(interaction.uid, field(req.body, 'credential'), attempt);
    if (outcome.kind === 'authenticated') return deps.finishLogin(req, res, outcome.authentication, attempt);
    const page = deps.page(req, res, `/signin/${interaction.uid}`);
    if (outcome.kind === 'throttled') res.set('Retry-After', String(outcome.retryAfterSeconds));
    const client = await deps.provider().Client.find(String(interaction.params.client_id));
    res
      .status(outcome.kind === 'throttled' ? 429 : 401)
      .type('html')
      .send(
        renderPage('signin', page, {
          action: `/signin/${interaction.uid}/login`,
          csrf: csrfToken(deps.csrfKey, interaction.uid),
          clientName: client?.clientName ?? client?.clientId,
          username: '',
          error: {
            message:
              outcome.kind === 'throttled'
                ? page.t('signin.error.throttled', { seconds: outcome.retryAfterSeconds })
                : page.t('webauthn.signin.error'),
          },
        }),
      );
  });

  return router;
}
