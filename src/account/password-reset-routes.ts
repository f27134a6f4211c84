import express, { type Request, type Response, type Router } from 'express';
import { correlationId, type AuditEventInput } from '../audit/event.js';
import type { AuditLog } from '../audit/log.js';
import type { PasswordHasher } from '../directory/password-hash.js';
import { checkPassword, type PasswordPolicy } from '../directory/password-policy.js';
import type { UserRecord, UserRepository } from '../directory/users.js';
import { csrfToken, verifyCsrfToken } from '../http/csrf.js';
import { renderPage, type PageContext } from '../http/render.js';
import { signInsCountAgain } from '../oidc/signed-out.js';
import { describeSource } from '../policy/source.js';
import { field } from '../signin/request.js';
import type { Throttle } from '../signin/throttle.js';
import { resetLinkId, resetLinkPath, type PasswordResets, type ResetOrigin } from './password-reset.js';

export interface PasswordResetRouteDeps {
  resets: PasswordResets;
  users: UserRepository;
  hasher: PasswordHasher;
  policy: PasswordPolicy;
  audit: AuditLog;
  throttle: Throttle;
  csrfKey: Buffer;
  page: (req: Request, res: Response) => PageContext;
  showError: (req: Request, res: Response, status: number, code: string) => void;
  /** the "Forgot your password?" page, when self-service resets are on: the way to a new link */
  forgotPath?: string;
}

const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 10 });

/**
 * The page of a password reset link (`poort user reset-password`): the user chooses a new password under the
 * password policy, once. Every attempt is recorded as `password.reset.completed`: success, or failure with why
 * (`invalid_link`, `password_mismatch`, `password_policy`); never the link or the password.
 */
export function passwordResetRoutes(deps: PasswordResetRouteDeps): Router {
  const router = express.Router();
  const { resets, policy } = deps;
  /** what CSRF tokens and the correlation id of one link are bound to */
  const binding = (token: string) => `password-reset:${resetLinkId(token) ?? 'malformed'}`;

  function event(
    req: Request,
    token: string,
    user: UserRecord | undefined,
    outcome: Pick<AuditEventInput, 'outcome' | 'reason' | 'details'>,
  ): AuditEventInput {
    return {
      action: 'password.reset.completed',
      ...outcome,
      // whoever holds the link; without a live link, nobody known
      actor: user ? { type: 'user', id: user.id, name: user.username } : { type: 'user' },
      ...(user ? { subject: { id: user.id, username: user.username, known: true } } : {}),
      source: describeSource(req.ip ?? '', req.headers),
      correlation: correlationId(binding(token)),
    };
  }

  /** The page of a link that does not work (the event is recorded by the caller). */
  function showInvalid(req: Request, res: Response) {
    res
      .status(400)
      .type('html')
      .send(renderPage('password/invalid', deps.page(req, res), { forgot: deps.forgotPath }));
  }

  /** The user of a live link and who asked for it, or undefined (recorded, and the page says the link does not work). */
  async function live(
    req: Request,
    res: Response,
    token: string,
  ): Promise<{ user: UserRecord; origin: ResetOrigin } | undefined> {
    const link = await resets.check(token);
    const user = link ? await deps.users.findById(link.userId) : undefined;
    if (link && user) return { user, origin: link.origin };
    await deps.audit.append(event(req, token, undefined, { outcome: 'failure', reason: 'invalid_link' }));
    showInvalid(req, res);
    return undefined;
  }

  function showForm(
    req: Request,
    res: Response,
    token: string,
    { user, origin }: { user: UserRecord; origin: ResetOrigin },
    status: number,
    error?: { message: string; violations?: string[] },
  ) {
    res
      .status(status)
      .type('html')
      .send(
        renderPage('password/reset', deps.page(req, res), {
          action: resetLinkPath(token),
          csrf: csrfToken(deps.csrfKey, binding(token)),
          username: user.username,
          origin,
          minLength: policy.min_length,
          maxLength: policy.max_length,
          ...(error ? { error } : {}),
        }),
      );
  }

  router.get('/account/password/reset/:token', async (req, res) => {
    const token = String(req.params.token);
    const link = await live(req, res, token);
    if (link) showForm(req, res, token, link, 200);
  });

  router.post('/account/password/reset/:token', form, async (req, res) => {
    const token = String(req.params.token);
    if (!verifyCsrfToken(deps.csrfKey, binding(token), field(req.body, 'csrf')))
      return deps.showError(req, res, 403, 'csrf');
    const link = await live(req, res, token);
    if (!link) return;
    const { user } = link;
    const t = deps.page(req, res).t;
    const password = field(req.body, 'password');
    if (password !== field(req.body, 'repeat')) {
      await deps.audit.append(event(req, token, user, { outcome: 'failure', reason: 'password_mismatch' }));
      return showForm(req, res, token, link, 400, { message: t('password.reset.error.mismatch') });
    }
    const violations = checkPassword(password, user, policy);
    if (violations.length > 0) {
      await deps.audit.append(
        event(req, token, user, {
          outcome: 'failure',
          reason: 'password_policy',
          details: { violations: violations.map((v) => v.code) },
        }),
      );
      return showForm(req, res, token, link, 400, {
        message: t('password.reset.error.policy'),
        violations: violations.map((v) =>
          t(`password.reset.violation.${v.code}`, {
            min: policy.min_length,
            max: policy.max_length,
          }),
        ),
      });
    }
    const hash = await deps.hasher.hash(password);
    // Used up first, so that two requests racing with one link cannot both set a password.
    if (!(await resets.consume(token, user.id))) {
      await deps.audit.append(event(req, token, user, { outcome: 'failure', reason: 'invalid_link' }));
      return showInvalid(req, res);
    }
    // Recorded before it happens: a change that cannot be recorded does not happen (the step fails closed). The
    // reset signs the user out everywhere: whoever knew the old password keeps no session or token from it.
    await deps.audit.append(
      event(req, token, user, { outcome: 'success', details: { signed_out_everywhere: true } }),
    );
    await deps.users.setPasswordHash(user.id, hash);
    const cut = await deps.users.endSessions(user.id);
    await deps.throttle.accountReset(user.username);
    await signInsCountAgain(cut);
    res
      .status(200)
      .type('html')
      .send(renderPage('password/done', deps.page(req, res)));
  });

  return router;
}
