import crypto from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import type { AuditEventInput } from '../audit/event.js';
import type { AuditLog } from '../audit/log.js';
import { normaliseUsername } from '../directory/identity.js';
import type { UserRecord, UserRepository } from '../directory/users.js';
import { csrfToken, verifyCsrfToken } from '../http/csrf.js';
import { readCookie, type Language } from '../http/i18n.js';
import { renderPage, type PageContext } from '../http/render.js';
import type { Logger } from '../log/logger.js';
import type { MessageSender } from '../notify/sender.js';
import { describeSource, type Source } from '../policy/source.js';
import { field } from '../signin/request.js';
import type { Throttle } from '../signin/throttle.js';
import type { PasswordResets } from './password-reset.js';
import { requestPasswordReset, ResetNotSent } from './password-reset-request.js';
import { directoryPasswordMessage } from './password-reset-message.js';

/** The "Forgot your password?" page. */
export const FORGOT_PATH = '/account/password/forgot';
/** A random value per browser that the page's CSRF token is bound to (double submit: a SameSite cookie). */
const VISITOR_COOKIE = 'poort_forgot';
const VISITOR_SECONDS = 3600;
/** Longer than any username (128) or e-mail address (254): answered as unknown without a lookup. */
const MAX_INPUT = 256;
/** The sign-in a visitor came from (`?from=`, then a hidden field), for the way back: an interaction uid. */
const FROM = /^[A-Za-z0-9_-]{1,64}$/;

/** The sign-in page to go back to, when the visitor came from one; only ever a path of this Poort. */
function backTo(from: unknown): string | undefined {
  return typeof from === 'string' && FROM.test(from) ? `/signin/${from}` : undefined;
}

export interface PasswordForgotRouteDeps {
  users: UserRepository;
  resets: PasswordResets;
  sender: MessageSender;
  audit: AuditLog;
  /** counts requests per name as typed and per client IP (passwords.reset.self_service) */
  throttle: Throttle;
  csrfKey: Buffer;
  issuer: string;
  secureCookies: boolean;
  lifetimeSeconds: number;
  organisation: string;
  page: (req: Request, res: Response) => PageContext;
  showError: (req: Request, res: Response, status: number, code: string) => void;
  log: Logger;
}

const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 10 });

/**
 * Self-service password reset (passwords.reset.self_service): someone who forgot their password types their
 * username or e-mail address and is e-mailed a reset link, the same kind of link the helpdesk sends.
 *
 * No user enumeration: every name gets the same page in the same time. The lookup, the link and the e-mail happen
 * after the answer has gone out, so an existing account does not answer slower. Requests are throttled per name as
 * typed (known or not, so the limit says nothing about existence) and per client IP, so that nobody can fill a
 * mailbox. Every request is recorded as `password.reset.requested` (`details.via: self_service`), with why nothing
 * was sent when nothing was: `unknown_user`, `ambiguous_email`, `disabled`, `directory_password` (an LDAP or upstream user),
 * `throttled`, `not_sent`.
 */
export function passwordForgotRoutes(deps: PasswordForgotRouteDeps): Router {
  const router = express.Router();
  const binding = (visitor: string) => `password-forgot:${visitor}`;

  function visitorCookie(value: string): string {
    return [
      `${VISITOR_COOKIE}=${value}`,
      `Path=${FORGOT_PATH}`,
      `Max-Age=${VISITOR_SECONDS}`,
      'HttpOnly',
      'SameSite=Lax',
      ...(deps.secureCookies ? ['Secure'] : []),
    ].join('; ');
  }

  function showForm(
    req: Request,
    res: Response,
    visitor: string,
    status: number,
    typed: string,
    from: string | undefined,
    error?: string,
  ): void {
    res
      .status(status)
      .type('html')
      .send(
        renderPage('password/forgot', deps.page(req, res), {
          action: FORGOT_PATH,
          csrf: csrfToken(deps.csrfKey, binding(visitor)),
          username: typed,
          ...(backTo(from) ? { from, back: backTo(from) } : {}),
          ...(error ? { error: { message: error } } : {}),
        }),
      );
  }

  router.get(FORGOT_PATH, (req, res) => {
    let visitor = readCookie(req.headers.cookie, VISITOR_COOKIE);
    if (!visitor || !/^[A-Za-z0-9_-]{22}$/.test(visitor)) {
      visitor = crypto.randomBytes(16).toString('base64url');
      res.append('Set-Cookie', visitorCookie(visitor));
    }
    const hint = typeof req.query.username === 'string' ? req.query.username.slice(0, MAX_INPUT) : '';
    showForm(req, res, visitor, 200, hint, req.query.from as string | undefined);
  });

  router.post(FORGOT_PATH, form, async (req, res) => {
    const visitor = readCookie(req.headers.cookie, VISITOR_COOKIE);
    if (!visitor || !verifyCsrfToken(deps.csrfKey, binding(visitor), field(req.body, 'csrf')))
      return deps.showError(req, res, 403, 'csrf');
    const { t, lang } = deps.page(req, res);
    const typed = field(req.body, 'username').trim();
    const from = field(req.body, 'from') || undefined;
    if (!typed) return showForm(req, res, visitor, 400, '', from, t('password.forgot.error.missing'));
    // what is longer than any name is counted and recorded by its start, and not looked up
    const tooLong = typed.length > MAX_INPUT;
    const name = normaliseUsername(tooLong ? typed.slice(0, 64) : typed);
    const source = describeSource(req.ip ?? '', req.headers);
    const reservation = await deps.throttle.reserveFor(name, source.ip);
    if (!reservation.allowed) {
      await deps.audit.append({
        action: 'password.reset.requested',
        outcome: 'denied',
        reason: 'throttled',
        actor: { type: 'user' },
        subject: { username: name },
        source,
        details: { via: 'self_service', retry_after_seconds: reservation.retryAfterSeconds },
      });
      res.set('Retry-After', String(reservation.retryAfterSeconds));
      return showForm(
        req,
        res,
        visitor,
        429,
        typed,
        from,
        t('password.forgot.error.throttled', { minutes: Math.ceil(reservation.retryAfterSeconds / 60) }),
      );
    }
    res
      .status(200)
      .type('html')
      .send(renderPage('password/forgot-sent', deps.page(req, res), { back: backTo(from) }));
    // After the answer: nothing in it, nor its timing, depends on whether the account exists.
    void deliver(name, !tooLong, source, lang).catch((err: unknown) =>
      deps.log.error({ err, event: 'password.forgot' }, 'a self-service reset request failed'),
    );
  });

  /** The account a typed name stands for: a username, else an e-mail address that exactly one account has. */
  async function findAccount(
    name: string,
    lookUp: boolean,
  ): Promise<{ user: Omit<UserRecord, 'groups'> } | { reason: 'unknown_user' | 'ambiguous_email' }> {
    if (!lookUp) return { reason: 'unknown_user' };
    const byName = await deps.users.findByUsername(name);
    if (byName) return { user: byName };
    if (!name.includes('@')) return { reason: 'unknown_user' };
    const byEmail = await deps.users.findByEmail(name, 2);
    if (byEmail.length > 1) return { reason: 'ambiguous_email' };
    return byEmail[0] ? { user: byEmail[0] } : { reason: 'unknown_user' };
  }

  /** The link to the account, in the language of the page the person asked on; or the recorded reason why not. */
  async function deliver(name: string, lookUp: boolean, source: Source, language: Language): Promise<void> {
    const found = await findAccount(name, lookUp);
    const base: Pick<AuditEventInput, 'action' | 'actor' | 'source'> = {
      action: 'password.reset.requested',
      actor: { type: 'user' },
      source,
    };
    if ('reason' in found || !found.user.enabled) {
      const user = 'user' in found ? found.user : undefined;
      await deps.audit.append({
        ...base,
        outcome: 'failure',
        reason: 'reason' in found ? found.reason : 'disabled',
        subject: user
          ? { id: user.id, username: user.username, known: true }
          : { username: name, known: false },
        details: { via: 'self_service' },
      });
      return;
    }
    // an LDAP (or upstream) user's password is the directory's: no link could change it; the e-mail says where to
    if (found.user.directory !== 'local') {
      const { user } = found;
      const sent = await deps.sender
        .send(user.email, directoryPasswordMessage({ language, organisation: deps.organisation }, user))
        .then(
          () => true,
          (err: unknown) => {
            deps.log.warn(
              { err, event: 'password.forgot', user: user.id },
              'a directory user could not be told',
            );
            return false;
          },
        );
      await deps.audit.append({
        ...base,
        outcome: 'failure',
        reason: 'directory_password',
        subject: { id: user.id, username: user.username, known: true },
        details: { via: 'self_service', directory: user.directory, told: sent },
      });
      return;
    }
    try {
      await requestPasswordReset(
        {
          resets: deps.resets,
          sender: deps.sender,
          record: async (event) => {
            await deps.audit.append({
              ...base,
              ...event,
              outcome: event.outcome ?? 'success',
              subject: { ...event.subject, known: true },
            });
          },
          issuer: deps.issuer,
          message: { language, organisation: deps.organisation },
          origin: 'self',
        },
        found.user,
        deps.lifetimeSeconds,
      );
    } catch (err) {
      if (!(err instanceof ResetNotSent)) throw err;
      // the error names the address: the log gets the user, the audit trail the failure (not_sent)
      deps.log.warn({ event: 'password.forgot', user: found.user.id }, 'a reset link could not be sent');
    }
  }

  return router;
}
