import { takeOnce } from '../store/kv.js';
import express, { type Request, type Response, type Router } from 'express';
import * as oidc from 'openid-client';
import { verifyCsrfToken } from '../http/csrf.js';
import type { Identity } from '../directory/identity.js';
import { UpstreamUnavailableError, type UpstreamAnswer } from '../directory/upstream/client.js';
import {
  upstreamCallbackPath,
  upstreamSignedOutPath,
  type UpstreamDirectory,
} from '../directory/upstream/directory.js';
import type { UpstreamSignOns } from '../directory/upstream/sign-ons.js';
import type { Enforcement } from '../policy/enforce.js';
import type { AttemptContext } from './flow.js';
import { field, form, type Interaction } from './request.js';
import type { AfterFirstFactor, StepRouteDeps } from './routes.js';

/** How long the provider may take to send the browser back. */
const PENDING_SECONDS = 600;
/** How long the answer waits for the browser to reach the sign-in again (one redirect). */
const ANSWER_SECONDS = 120;

interface Pending {
  uid: string;
  provider: string;
  nonce: string;
  verifier: string;
}

interface Answer {
  provider: string;
  answer: UpstreamAnswer | 'unavailable';
}

export interface UpstreamRouteDeps extends StepRouteDeps {
  upstream: UpstreamDirectory;
  upstreamSignOns?: UpstreamSignOns;
  afterFirstFactor: AfterFirstFactor;
  signInPage(
    req: Request,
    res: Response,
    interaction: Interaction,
    status: number,
    extra: Record<string, unknown>,
  ): Promise<void>;
  showDenied(req: Request, res: Response, enforcement: Enforcement): void;
  decide(req: Request, identity: Identity, attempt: AttemptContext): Promise<Enforcement>;
}

/**
 * Sign-in at an upstream OpenID provider, in three steps:
 * 1. POST /signin/:uid/upstream/:provider (the button; CSRF as the password form): the browser goes to the provider
 *    with PKCE, state and nonce, kept here under the state;
 * 2. GET /signin/upstream/:provider/callback (the redirect URI registered there): the code is redeemed and the
 *    answer kept for the pending sign-in the state names;
 * 3. GET /signin/:uid/upstream/finish: with the pending sign-in's own cookie, which only the browser that began it
 *    has, the answer becomes a user and the sign-in goes on. A code or state planted in someone else's browser
 *    (login CSRF) therefore signs nobody in there.
 * A provider that signs out with Poort (`sign_out`) sends the browser back to GET
 * /signin/upstream/:provider/signed-out after a logout, which goes on to where Poort's logout was going.
 */
export function upstreamRoutes(deps: UpstreamRouteDeps): {
  router: Router;
  start(
    req: Request,
    res: Response,
    interaction: Interaction,
    provider: string,
    loginHint?: string,
  ): Promise<void>;
} {
  const router = express.Router();
  const { upstream, kv, flow } = deps;
  const pendingKey = (state: string) => `upstream-pending:${state}`;
  const answerKey = (uid: string) => `upstream-answer:${uid}`;

  const take = <T>(key: string) => takeOnce<T>(kv, key);

  /** The sign-in page again, saying the provider could not be reached (the attempt is recorded by then). */
  function unavailablePage(req: Request, res: Response, interaction: Interaction, provider: string) {
    res.set('Retry-After', '30');
    const { t } = deps.page(req, res, `/signin/${interaction.uid}`);
    return deps.signInPage(req, res, interaction, 503, {
      error: { message: t('signin.error.upstream_unavailable', { provider: nameOf(provider) }) },
    });
  }

  const nameOf = (id: string) => upstream.list().find((p) => p.id === id)?.name ?? id;

  /** Sends the browser to `provider` for the pending sign-in `interaction`; `loginHint`: the name typed here. */
  async function start(
    req: Request,
    res: Response,
    interaction: Interaction,
    provider: string,
    loginHint?: string,
  ): Promise<void> {
    const pending: Pending = {
      uid: interaction.uid,
      provider,
      nonce: oidc.randomNonce(),
      verifier: oidc.randomPKCECodeVerifier(),
    };
    const state = oidc.randomState();
    // An application that asks for a fresh sign-in here asks the provider for one too.
    const prompt = String(interaction.params.prompt ?? '').split(' ');
    const extra: Record<string, string> = {
      ...(prompt.includes('login') ? { prompt: 'login' } : {}),
      ...(interaction.params.max_age !== undefined ? { max_age: String(interaction.params.max_age) } : {}),
      ...(loginHint ? { login_hint: loginHint } : {}),
    };
    let url: URL;
    try {
      url = await upstream.authorizationUrl(provider, { state, ...pending }, extra);
    } catch (err) {
      if (!(err instanceof UpstreamUnavailableError)) throw err;
      deps.log.error({ err, provider }, 'an upstream provider cannot be reached');
      const attempt = deps.attemptContext(req, interaction);
      await flow.upstreamStep(provider, 'unavailable', attempt, (identity) =>
        deps.decide(req, identity, attempt),
      );
      return unavailablePage(req, res, interaction, provider);
    }
    await kv.set(pendingKey(state), pending, PENDING_SECONDS);
    res.redirect(303, url.href);
  }

  router.post('/signin/:uid/upstream/:provider', form, async (req, res) => {
    const interaction = await deps.load(req, res);
    if (!interaction) return;
    if (!verifyCsrfToken(deps.csrfKey, interaction.uid, field(req.body, 'csrf')))
      return deps.showError(req, res, 403, 'csrf');
    const provider = String(req.params.provider);
    if (interaction.prompt.name !== 'login' || !upstream.has(provider))
      return deps.showError(req, res, 400, 'invalid_request');
    await start(req, res, interaction, provider);
  });

  router.get(upstreamCallbackPath(':provider'), async (req, res) => {
    const provider = String(req.params.provider);
    const query = new URL(req.originalUrl, 'http://callback').searchParams;
    const state = query.get('state');
    const pending =
      state && /^[A-Za-z0-9_-]{1,128}$/.test(state) ? await take<Pending>(pendingKey(state)) : undefined;
    // unknown, used or expired state, or one begun for another provider: nothing to go on with
    if (!pending || pending.provider !== provider || !upstream.has(provider))
      return deps.showError(req, res, 400, 'session_expired');
    let answer: Answer['answer'];
    try {
      answer = await upstream.answer(provider, query, {
        state: state!,
        nonce: pending.nonce,
        verifier: pending.verifier,
      });
    } catch (err) {
      if (!(err instanceof UpstreamUnavailableError)) throw err;
      deps.log.error({ err, provider }, 'an upstream provider cannot be reached');
      answer = 'unavailable';
    }
    await kv.set(answerKey(pending.uid), { provider, answer } satisfies Answer, ANSWER_SECONDS);
    res.redirect(303, `/signin/${pending.uid}/upstream/finish`);
  });

  router.get('/signin/:uid/upstream/finish', async (req, res) => {
    const interaction = await deps.load(req, res);
    if (!interaction) return;
    const stored = await take<Answer>(answerKey(interaction.uid));
    if (!stored || interaction.prompt.name !== 'login')
      return deps.showError(req, res, 400, 'session_expired');
    const { provider, answer } = stored;
    const attempt = deps.attemptContext(req, interaction);
    const result =
      answer === 'unavailable' ? 'unavailable' : await upstream.complete(provider, answer, attempt);
    const outcome = await flow.upstreamStep(provider, result, attempt, (identity) =>
      deps.decide(req, identity, attempt),
    );
    const { t } = deps.page(req, res, `/signin/${interaction.uid}`);
    switch (outcome.kind) {
      case 'unavailable':
        return unavailablePage(req, res, interaction, provider);
      case 'failed':
        return deps.signInPage(req, res, interaction, 401, {
          error: { message: t('signin.error.upstream_failed', { provider: nameOf(provider) }) },
        });
      case 'denied':
        return deps.showDenied(req, res, outcome.enforcement);
      case 'authenticated':
        // the provider's ID token, for signing out there when this sign-in's session is logged out
        if (deps.upstreamSignOns && answer !== 'unavailable' && answer.ok) {
          await deps.upstreamSignOns.remember(interaction.uid, {
            provider,
            idToken: answer.idToken,
            accountId: outcome.authentication.identity.id,
          });
        }
        return deps.afterFirstFactor(
          req,
          res,
          interaction,
          outcome.authentication,
          outcome.enforcement,
          attempt,
        );
    }
  });

  // 4. After a logout signed the browser out at the provider too (`sign_out`): on to where the logout was going.
  router.get(upstreamSignedOutPath(':provider'), async (req, res) => {
    const state = new URL(req.originalUrl, 'http://signed-out').searchParams.get('state');
    const location =
      state && deps.upstreamSignOns
        ? await deps.upstreamSignOns.returned(String(req.params.provider), state)
        : undefined;
    if (!location) return deps.showError(req, res, 400, 'session_expired');
    res.redirect(303, location);
  });

  return { router, start };
}
