import express, { type Request, type Response, type Router } from 'express';
import { csrfToken, verifyCsrfToken } from '../http/csrf.js';
import { renderPage } from '../http/render.js';
import { RECOVERY_FACTOR_ID } from '../mfa/recovery.js';
import type { Requirement } from '../mfa/strength.js';
import { field, form, rememberAsked, type Interaction } from './request.js';
import type { StepRouteDeps } from './routes.js';

interface SecondFactorRouteDeps extends StepRouteDeps {
  requestedStrength(interaction: Interaction): Requirement;
}

/** Every field a factor's form may post, besides csrf and factor. */
const FACTOR_FIELDS = ['code', 'credential', 'action'];

/**
 * The second step of a sign-in: /signin/:uid/mfa shows the factors the user may use (strong enough for this
 * sign-in) and the form of the chosen one; the factor's own code checks the answer, the flow throttles and audits.
 */
export function secondFactorRoutes(deps: SecondFactorRouteDeps): Router {
  const router = express.Router();
  const { flow } = deps;
  const path = (uid: string) => `/signin/${uid}/mfa`;

  async function show(
    req: Request,
    res: Response,
    interaction: Interaction,
    status: number,
    chosenId: string | undefined,
    error?: string,
    notice?: string,
  ) {
    const pending = await flow.pendingSecondFactor(interaction.uid);
    if (!pending) return deps.showError(req, res, 400, 'session_expired');
    const identity = await deps.directory.findById(pending.userId);
    if (!identity) return deps.showError(req, res, 400, 'session_expired');
    const { usable } = await flow.factorsFor(pending);
    const recovery = await flow.recoveryOffered(pending);
    const page = deps.page(req, res, path(interaction.uid));
    // "Remember this device", unticked unless the user ticked it on the form that failed
    const remember = deps.knownDevices.enabled
      ? { days: deps.knownDevices.days, checked: rememberAsked(req) }
      : undefined;
    if (usable.length === 0 && !recovery) {
      if (await deps.enrolment.offered(req.ip ?? '', interaction.uid, pending))
        return res.redirect(303, `/signin/${interaction.uid}/enrol`);
      await flow.noUsableFactor(identity, pending.requirement, deps.attemptContext(req, interaction));
      res
        .status(403)
        .type('html')
        .send(renderPage('mfa-unavailable', page, { requirement: pending.requirement }));
      return;
    }
    const recoveryLink = recovery
      ? [
          {
            id: RECOVERY_FACTOR_ID,
            kind: 'recovery',
            name: page.t('recovery.other'),
            href: `${path(interaction.uid)}?factor=${RECOVERY_FACTOR_ID}`,
          },
        ]
      : [];
    if (recovery && (chosenId === RECOVERY_FACTOR_ID || usable.length === 0)) {
      res
        .status(status)
        .type('html')
        .send(
          renderPage('mfa', page, {
            action: path(interaction.uid),
            csrf: csrfToken(deps.csrfKey, interaction.uid),
            factor: { id: RECOVERY_FACTOR_ID },
            factorView: 'mfa/recovery.njk',
            remember,
            others: usable.map((f) => ({
              ...f,
              href: `${path(interaction.uid)}?factor=${encodeURIComponent(f.id)}`,
            })),
            error: error ? { message: page.t(`recovery.error.${error}`) } : undefined,
          }),
        );
      return;
    }
    const chosen = usable.find((f) => f.id === chosenId) ?? usable[0]!;
    const handler = flow.handler(chosen.kind)!;
    const challenge = await handler.challenge({
      binding: interaction.uid,
      user: identity,
      factor: chosen,
      ip: req.ip ?? '',
    });
    res
      .status(status)
      .type('html')
      .send(
        renderPage('mfa', page, {
          action: path(interaction.uid),
          csrf: csrfToken(deps.csrfKey, interaction.uid),
          factor: chosen,
          factorView: `${challenge.view}.njk`,
          remember,
          others: [
            ...usable
              .filter((f) => f.id !== chosen.id)
              .map((f) => ({ ...f, href: `${path(interaction.uid)}?factor=${encodeURIComponent(f.id)}` })),
            ...recoveryLink,
          ],
          error: error ? { message: page.t(`mfa.error.${error}`) } : undefined,
          notice: notice ? { message: page.t(`mfa.notice.${notice}`) } : undefined,
          ...challenge.vars,
        }),
      );
  }

  router.get('/signin/:uid/mfa', async (req, res) => {
    const interaction = await deps.load(req, res);
    if (!interaction) return;
    await show(
      req,
      res,
      interaction,
      200,
      typeof req.query.factor === 'string' ? req.query.factor : undefined,
    );
  });

  router.post('/signin/:uid/mfa', form, async (req, res) => {
    const interaction = await deps.load(req, res);
    if (!interaction) return;
    if (!verifyCsrfToken(deps.csrfKey, interaction.uid, field(req.body, 'csrf')))
      return deps.showError(req, res, 403, 'csrf');
    const factorId = field(req.body, 'factor');
    const input = Object.fromEntries(FACTOR_FIELDS.map((name) => [name, field(req.body, name)]));
    const attempt = deps.attemptContext(req, interaction);
    const outcome = await flow.secondFactorStep(interaction.uid, factorId, input, attempt);
    switch (outcome.kind) {
      case 'expired':
        return deps.showError(req, res, 400, 'session_expired');
      case 'throttled':
        res.set('Retry-After', String(outcome.retryAfterSeconds));
        return show(req, res, interaction, 429, factorId, 'throttled');
      case 'failed':
        // a new code on its way is news, not an error: the code field is not wrong
        if (outcome.reason === 'code_sent')
          return show(req, res, interaction, 200, factorId, undefined, outcome.reason);
        return show(req, res, interaction, 401, factorId, outcome.reason);
      case 'authenticated':
        return deps.finishLogin(req, res, outcome.authentication, attempt);
      case 'recovered': {
        // Signed in, but first the user reads how many recovery codes are left; Continue finishes the sign-in.
        const page = deps.page(req, res, path(interaction.uid));
        res
          .status(200)
          .type('html')
          .send(
            renderPage('mfa/recovery-used', page, {
              action: `${path(interaction.uid)}/continue`,
              csrf: csrfToken(deps.csrfKey, interaction.uid),
              remaining: outcome.remaining,
              rememberDevice: rememberAsked(req),
            }),
          );
        return;
      }
    }
  });

  router.post('/signin/:uid/mfa/continue', form, async (req, res) => {
    const interaction = await deps.load(req, res);
    if (!interaction) return;
    if (!verifyCsrfToken(deps.csrfKey, interaction.uid, field(req.body, 'csrf')))
      return deps.showError(req, res, 403, 'csrf');
    const authentication = await flow.finishRecovered(interaction.uid);
    if (!authentication) return deps.showError(req, res, 400, 'session_expired');
    return deps.finishLogin(req, res, authentication, deps.attemptContext(req, interaction));
  });

  return router;
}
