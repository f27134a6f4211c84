import { ACTIVITY_DAYS, activityCells, recentActivity } from './activity.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Request, type Response, type Router } from 'express';
import { correlationId, type AuditAction, type AuditEventInput } from '../audit/event.js';
import type { AuditLog } from '../audit/log.js';
import type { Config } from '../config/schema.js';
import type { Directory, Identity } from '../directory/identity.js';
import type { PasswordHasher } from '../directory/password-hash.js';
import type { UserRepository } from '../directory/users.js';
import { csrfToken, verifyCsrfToken } from '../http/csrf.js';
import { renderPage, type PageContext } from '../http/render.js';
import type { Secrets } from '../keys/keystore.js';
import type { Logger } from '../log/logger.js';
import type { EnrolContext, FactorKind, FactorRecord, SecondFactor } from '../mfa/factor.js';
import { FactorError, type FactorRepository } from '../mfa/factors.js';
import { PendingEnrolments, type PendingEnrolment } from '../mfa/pending-enrolment.js';
import { RecoveryCodes } from '../mfa/recovery.js';
import { describeSource } from '../policy/source.js';
import { predatesSignOut, signInsCountAgain } from '../oidc/signed-out.js';
import type { Services } from '../server/services.js';
import { enrolError } from '../signin/enrolment-routes.js';
import { Throttle } from '../signin/throttle.js';
import type { SignInHistory } from '../policy/history.js';
import type { KeyValueStore } from '../store/kv.js';
import { ACCOUNT_CLIENT_ID, accountClientSecret, accountKey } from './client.js';
import { changePassword, type PasswordChangeResult } from './password-change.js';
import {
  authorizationUrl,
  loopbackTokenEndpoint,
  newLogin,
  redeemCode,
  type AccountOidcSettings,
} from './oidc.js';
import {
  ACCOUNT_SESSION_SECONDS,
  AccountSessions,
  takeCallback,
  type AccountLogin,
  type AccountSession,
} from './session.js';

/** The recovery codes of a user, as far as the account pages need them. */
export interface RecoveryCodeIssuer {
  generate(userId: string): Promise<string[]>;
  remaining(userId: string): Promise<number>;
}

export interface AccountRouteDeps {
  config: Config;
  kv: KeyValueStore;
  secrets: Pick<Secrets, 'csrfKey' | 'encryptionKey'>;
  directory: Directory;
  factors: FactorRepository;
  /** ends every session and token of a user (sign out everywhere); changes their password */
  users: Pick<UserRepository, 'endSessions' | 'findCredentials' | 'setPasswordHash'>;
  hasher: PasswordHasher;
  /** the sign-in's throttle, for the current password asked on the password page */
  throttle: Throttle;
  /** what policies remember of failed attempts: a wrong current password counts as one */
  history?: Pick<SignInHistory, 'failed'>;
  audit: AuditLog;
  /** the second-factor kinds available here, by kind */
  handler: (kind: FactorKind) => SecondFactor | undefined;
  /** absent where this Poort has no recovery codes */
  recovery: RecoveryCodeIssuer | undefined;
  /** Poort's own token endpoint, reached on this node's listener */
  tokenEndpoint: string;
  page: (req: IncomingMessage, res: ServerResponse, pagePath?: string) => PageContext;
  showError: (req: Request, res: Response, status: number, code: string) => void;
  log: Logger;
}

const SECURITY = '/account/security';
const PASSWORD = `${SECURITY}/password`;
const ACTIVITY = `${SECURITY}/activity`;
const DONE_MESSAGES = new Set(['added', 'renamed', 'removed', 'password']);
const form = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 20 });

function field(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

function inputOf(body: unknown): Record<string, string> {
  return Object.fromEntries(
    Object.entries((body ?? {}) as Record<string, unknown>).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string' && entry[0] !== 'csrf',
    ),
  );
}

/** Where to come back to after signing in: an account page of this Poort, never anywhere else. */
function returnPath(url: string): string {
  const { pathname } = new URL(url, 'http://x');
  return pathname === SECURITY || pathname.startsWith(`${SECURITY}/`) ? pathname : SECURITY;
}

/**
 * The self-service account pages under /account: a user's second factors (add, rename, remove) and recovery codes.
 * They are an OIDC application of Poort itself (client `poort-account`): each visit begins with a fresh sign-in —
 * password, and the second factor when the user has one — and lasts ten minutes. Every change is audited.
 */
export function accountRoutes(deps: AccountRouteDeps): Router {
  const { config, kv, secrets, audit } = deps;
  const issuer = config.server.issuer;
  const sessions = new AccountSessions(kv, accountKey(secrets, 'cookie'), {
    secure: issuer.startsWith('https:'),
  });
  const enrolments = new PendingEnrolments(kv, secrets.encryptionKey, ACCOUNT_SESSION_SECONDS);
  const oidc: AccountOidcSettings = {
    issuer,
    tokenEndpoint: deps.tokenEndpoint,
    clientSecret: accountClientSecret(secrets),
  };
  const binding = (session: AccountSession) => `account:${session.sid}`;
  const csrf = (session: AccountSession) => csrfToken(secrets.csrfKey, binding(session));
  const router = express.Router();

  interface Visit {
    session: AccountSession;
    identity: Identity;
  }

  async function startLogin(res: Response, returnTo: string, stepUpOf?: AccountLogin) {
    const login = newLogin(returnTo, stepUpOf);
    res.append('Set-Cookie', await sessions.startLogin(login));
    res.redirect(303, authorizationUrl(oidc, login, config.oidc.acr));
  }

  /** The signed-in visit; without one, a GET goes to sign in first and a POST back to the overview. */
  async function visit(req: Request, res: Response, post: boolean): Promise<Visit | undefined> {
    const session = await sessions.read(req);
    const found = session ? await deps.directory.findById(session.userId) : undefined;
    // signed out everywhere since this session's sign-in: it ends here too
    const identity = found && session && !predatesSignOut(found, session) ? found : undefined;
    if (!session || !identity) {
      if (post) res.redirect(303, SECURITY);
      else await startLogin(res, returnPath(req.originalUrl));
      return undefined;
    }
    if (post && !verifyCsrfToken(secrets.csrfKey, binding(session), field(req.body, 'csrf'))) {
      deps.showError(req, res, 403, 'csrf');
      return undefined;
    }
    return { session, identity };
  }

  async function record(
    req: Request,
    v: Visit,
    action: AuditAction,
    details: Record<string, unknown>,
    outcome: Pick<AuditEventInput, 'outcome' | 'reason'> = { outcome: 'success' },
  ) {
    await audit.append({
      action,
      ...outcome,
      actor: { type: 'user', id: v.identity.id, name: v.identity.username },
      subject: { id: v.identity.id, username: v.identity.username, known: true },
      application: { id: ACCOUNT_CLIENT_ID, protocol: 'oidc' },
      source: describeSource(req.ip ?? '', req.headers),
      correlation: correlationId(v.session.sid),
      details: { ...details, via: 'account' },
    });
  }

  function send(res: Response, status: number, html: string) {
    res.status(status).type('html').send(html);
  }

  /** The kinds a user may add here: offered by configuration and able to enrol. */
  function addable(): SecondFactor[] {
    return config.mfa.kinds
      .map((kind) => deps.handler(kind))
      .filter((handler): handler is SecondFactor => handler?.enrolment !== undefined);
  }

  /**
   * The user's password: set, none (a user with passkeys only), or kept by an external directory (LDAP, an upstream
   * OpenID provider), which Poort does not change.
   */
  async function passwordKind(v: Visit): Promise<'set' | 'none' | 'directory'> {
    const row = await deps.users.findCredentials(v.identity.username);
    if (row && row.directory !== 'local') return 'directory';
    return row?.password_hash ? 'set' : 'none';
  }

  async function ownFactor(v: Visit, id: string | undefined): Promise<FactorRecord | undefined> {
    const factor = id ? await deps.factors.get(id) : undefined;
    return factor?.userId === v.identity.id ? factor : undefined;
  }

  router.get(['/account', '/account/'], (_req, res) => res.redirect(303, SECURITY));

  router.get('/account/callback', async (req, res) => {
    const back = await takeCallback(req, res, sessions, issuer, deps.showError, SECURITY);
    if (!back) return;
    const { login } = back;
    const redeemed = await redeemCode(oidc, back.code, login);
    if (!redeemed.ok) {
      deps.log.warn({ event: 'account.signin', error: redeemed.error }, 'account sign-in not completed');
      return deps.showError(req, res, 400, 'session_expired');
    }
    // A user with a second factor signed in with the password alone (mfa.required: never): ask for it too.
    if (!redeemed.amr.includes('mfa') && (await deps.factors.list(redeemed.sub)).length > 0) {
      if (login.stepUp) return deps.showError(req, res, 403, 'access_denied');
      return startLogin(res, login.returnTo, login);
    }
    const { setCookie: sessionCookie } = await sessions.create(redeemed.sub, redeemed.authTime, redeemed.sid);
    res.append('Set-Cookie', sessionCookie);
    res.redirect(303, login.returnTo);
  });

  router.get(SECURITY, async (req, res) => {
    const v = await visit(req, res, false);
    if (!v) return;
    const page = deps.page(req, res);
    const dates = new Intl.DateTimeFormat(page.lang, { dateStyle: 'long', timeStyle: 'short' });
    const when = (iso: string | null) => (iso ? { iso, text: dates.format(new Date(iso)) } : undefined);
    const factors = await deps.factors.list(v.identity.id);
    const done =
      typeof req.query.done === 'string' && DONE_MESSAGES.has(req.query.done) ? req.query.done : '';
    send(
      res,
      200,
      renderPage('account/security', page, {
        user: v.identity.name ?? v.identity.username,
        username: v.identity.username,
        done: done ? page.t(`account.done.${done}`) : undefined,
        factors: factors.map((f) => ({
          ...f,
          added: when(f.createdAt),
          lastUsed: when(f.lastUsedAt),
          renameHref: `${SECURITY}/factors/${encodeURIComponent(f.id)}/rename`,
          removeHref: `${SECURITY}/factors/${encodeURIComponent(f.id)}/remove`,
        })),
        kinds: addable().map((h) => ({ kind: h.kind, href: `${SECURITY}/add/${h.kind}` })),
        recovery: deps.recovery
          ? { remaining: await deps.recovery.remaining(v.identity.id), href: `${SECURITY}/recovery` }
          : undefined,
        password: PASSWORD,
        activity: ACTIVITY,
        passwordKind: await passwordKind(v),
        signout: { action: '/account/signout', csrf: csrf(v.session) },
        everywhere: { action: `${SECURITY}/signout-everywhere`, csrf: csrf(v.session) },
      }),
    );
  });

  // The sign-in attempts on this account lately, so that the person sees one that was not theirs.
  router.get(ACTIVITY, async (req, res) => {
    const v = await visit(req, res, false);
    if (!v) return;
    const page = deps.page(req, res);
    send(
      res,
      200,
      renderPage('account/activity', page, {
        back: SECURITY,
        days: ACTIVITY_DAYS,
        rows: activityCells(await recentActivity(deps.audit, v.identity.id), page.lang, page.t),
        password: PASSWORD,
      }),
    );
  });

  // Adding a factor: the kind's own setup page inside the account page, kept per account session.

  function enrolContext(req: Request, v: Visit, kind: FactorKind): EnrolContext {
    return {
      user: v.identity,
      binding: binding(v.session),
      action: `${SECURITY}/add/${kind}`,
      csrf: csrf(v.session),
      ip: req.ip ?? '',
      organisation: config.organisation.name,
      origin: issuer,
    };
  }

  function enrolPage(
    req: Request,
    res: Response,
    v: Visit,
    pending: PendingEnrolment,
    status: number,
    extra: { error?: string; name?: string } = {},
  ) {
    const ctx = enrolContext(req, v, pending.kind);
    const page = deps.page(req, res, ctx.action);
    send(
      res,
      status,
      renderPage('enrol', page, {
        ...pending.vars,
        account: true,
        back: SECURITY,
        kind: pending.kind,
        enrolView: `${pending.view}.njk`,
        action: ctx.action,
        beginAction: `${ctx.action}/begin`,
        csrf: ctx.csrf,
        ...(extra.name !== undefined ? { name: extra.name } : {}),
        error: extra.error ? { message: enrolError(page, extra.error) } : undefined,
        kinds: [],
      }),
    );
  }

  const chosen = (kind: string | undefined) => addable().find((h) => h.kind === kind);

  router.get(`${SECURITY}/add/:kind`, async (req, res) => {
    const v = await visit(req, res, false);
    if (!v) return;
    const handler = chosen(req.params.kind);
    if (!handler) return deps.showError(req, res, 404, 'not_found');
    const current = await enrolments.current(binding(v.session));
    const pending =
      current?.kind === handler.kind
        ? current
        : await enrolments.begin(handler, enrolContext(req, v, handler.kind), {});
    if (!pending) return deps.showError(req, res, 404, 'not_found');
    enrolPage(req, res, v, pending, 200);
  });

  router.post(`${SECURITY}/add/:kind/begin`, form, async (req, res) => {
    const v = await visit(req, res, true);
    if (!v) return;
    const handler = chosen(req.params.kind);
    if (!handler) return deps.showError(req, res, 404, 'not_found');
    const pending = await enrolments.begin(handler, enrolContext(req, v, handler.kind), inputOf(req.body));
    if (!pending) return deps.showError(req, res, 404, 'not_found');
    enrolPage(req, res, v, pending, 200);
  });

  router.post(`${SECURITY}/add/:kind`, form, async (req, res) => {
    const v = await visit(req, res, true);
    if (!v) return;
    const handler = chosen(req.params.kind);
    if (!handler) return deps.showError(req, res, 404, 'not_found');
    const ctx = enrolContext(req, v, handler.kind);
    const input = inputOf(req.body);
    const result = await enrolments.finish(handler, ctx, input);
    if (!result.ok) {
      const pending = result.pending ?? (await enrolments.begin(handler, ctx, {}));
      if (!pending) return deps.showError(req, res, 404, 'not_found');
      return enrolPage(req, res, v, pending, 400, { error: result.reason, name: input.name });
    }
    await record(req, v, 'mfa.enrolled', { factor: result.factor.kind, factor_id: result.factor.id });
    res.redirect(303, `${SECURITY}?done=added`);
  });

  // Renaming and removing a factor of one's own.

  function renamePage(
    req: Request,
    res: Response,
    v: Visit,
    factor: FactorRecord,
    status: number,
    error?: string,
  ) {
    const action = `${SECURITY}/factors/${encodeURIComponent(factor.id)}/rename`;
    const page = deps.page(req, res, action);
    send(
      res,
      status,
      renderPage('account/rename', page, {
        factor,
        action,
        csrf: csrf(v.session),
        back: SECURITY,
        error: error ? { message: page.t(error) } : undefined,
      }),
    );
  }

  router.get(`${SECURITY}/factors/:id/rename`, async (req, res) => {
    const v = await visit(req, res, false);
    if (!v) return;
    const factor = await ownFactor(v, req.params.id);
    if (!factor) return deps.showError(req, res, 404, 'not_found');
    renamePage(req, res, v, factor, 200);
  });

  router.post(`${SECURITY}/factors/:id/rename`, form, async (req, res) => {
    const v = await visit(req, res, true);
    if (!v) return;
    const factor = await ownFactor(v, req.params.id);
    if (!factor) return deps.showError(req, res, 404, 'not_found');
    const name = field(req.body, 'name').trim();
    if (!name) return renamePage(req, res, v, factor, 400, 'account.rename.error.missing');
    try {
      await deps.factors.rename(factor.id, v.identity.id, name);
    } catch (err) {
      if (err instanceof FactorError && err.code === 'not_found')
        return deps.showError(req, res, 404, 'not_found');
      throw err;
    }
    await record(req, v, 'mfa.renamed', {
      factor: factor.kind,
      factor_id: factor.id,
      name: name.slice(0, 64),
      previous_name: factor.name,
    });
    res.redirect(303, `${SECURITY}?done=renamed`);
  });

  /**
   * Whether removing this factor would leave the user unable to sign in: the last one where every sign-in needs a
   * second factor. They add another first.
   */
  async function isLastRequired(v: Visit): Promise<boolean> {
    return config.mfa.required === 'always' && (await deps.factors.list(v.identity.id)).length <= 1;
  }

  async function removePage(
    req: Request,
    res: Response,
    v: Visit,
    factor: FactorRecord,
    status: number,
    error?: string,
  ) {
    const action = `${SECURITY}/factors/${encodeURIComponent(factor.id)}/remove`;
    const page = deps.page(req, res, action);
    const factors = await deps.factors.list(v.identity.id);
    send(
      res,
      status,
      renderPage('account/remove', page, {
        factor,
        action,
        csrf: csrf(v.session),
        back: SECURITY,
        last: factors.length <= 1,
        blocked: await isLastRequired(v),
        error: error ? { message: page.t(error) } : undefined,
      }),
    );
  }

  router.get(`${SECURITY}/factors/:id/remove`, async (req, res) => {
    const v = await visit(req, res, false);
    if (!v) return;
    const factor = await ownFactor(v, req.params.id);
    if (!factor) return deps.showError(req, res, 404, 'not_found');
    await removePage(req, res, v, factor, 200);
  });

  router.post(`${SECURITY}/factors/:id/remove`, form, async (req, res) => {
    const v = await visit(req, res, true);
    if (!v) return;
    const factor = await ownFactor(v, req.params.id);
    if (!factor) return deps.showError(req, res, 404, 'not_found');
    if (await isLastRequired(v)) return removePage(req, res, v, factor, 409, 'account.remove.error.last');
    try {
      await deps.factors.remove(factor.id, v.identity.id);
    } catch (err) {
      if (err instanceof FactorError && err.code === 'not_found')
        return deps.showError(req, res, 404, 'not_found');
      throw err;
    }
    await record(req, v, 'mfa.removed', { factor: factor.kind, factor_id: factor.id, name: factor.name });
    res.redirect(303, `${SECURITY}?done=removed`);
  });

  // New recovery codes, shown once.

  router.get(`${SECURITY}/recovery`, async (req, res) => {
    const v = await visit(req, res, false);
    if (!v) return;
    const { recovery } = deps;
    if (!recovery) return deps.showError(req, res, 404, 'not_found');
    send(
      res,
      200,
      renderPage('account/recovery', deps.page(req, res), {
        action: `${SECURITY}/recovery`,
        csrf: csrf(v.session),
        back: SECURITY,
        remaining: await recovery.remaining(v.identity.id),
      }),
    );
  });

  router.post(`${SECURITY}/recovery`, form, async (req, res) => {
    const v = await visit(req, res, true);
    if (!v) return;
    const { recovery } = deps;
    if (!recovery) return deps.showError(req, res, 404, 'not_found');
    const replaced = await recovery.remaining(v.identity.id);
    const codes = await recovery.generate(v.identity.id);
    await record(req, v, 'mfa.recovery_codes.generated', { count: codes.length, replaced });
    send(
      res,
      200,
      renderPage('account/recovery-codes', deps.page(req, res, `${SECURITY}/recovery`), {
        codes,
        back: SECURITY,
      }),
    );
  });

  // Changing the password: the current one, the new one twice; by default signing out everywhere.

  async function passwordPage(
    req: Request,
    res: Response,
    v: Visit,
    status: number,
    failed?: Exclude<PasswordChangeResult, { ok: true }>,
    signOutEverywhere = true,
  ) {
    const page = deps.page(req, res, PASSWORD);
    const { t } = page;
    const policy = config.passwords.policy;
    const error = failed && {
      message:
        failed.error === 'throttled'
          ? t('signin.error.throttled', { seconds: failed.retryAfterSeconds })
          : failed.error === 'password_policy'
            ? t('password.reset.error.policy')
            : t(`account.password.error.${failed.error}`),
      violations:
        failed.error === 'password_policy'
          ? failed.violations.map((v) =>
              t(`password.reset.violation.${v.code}`, { min: policy.min_length, max: policy.max_length }),
            )
          : [],
      /** which field the message is about */
      field: failed.error === 'wrong_password' || failed.error === 'throttled' ? 'current' : 'password',
    };
    if (failed?.error === 'throttled') res.set('Retry-After', String(failed.retryAfterSeconds));
    send(
      res,
      status,
      renderPage('account/password', page, {
        action: PASSWORD,
        csrf: csrf(v.session),
        back: SECURITY,
        username: v.identity.username,
        // a user without a password (passkeys only) sets one, without a current one to type
        hasPassword: (await passwordKind(v)) === 'set',
        minLength: policy.min_length,
        maxLength: policy.max_length,
        signOutEverywhere,
        ...(error ? { error } : {}),
      }),
    );
  }

  router.get(PASSWORD, async (req, res) => {
    const v = await visit(req, res, false);
    if (!v) return;
    if ((await passwordKind(v)) === 'directory') return deps.showError(req, res, 409, 'password_directory');
    await passwordPage(req, res, v, 200);
  });

  router.post(PASSWORD, form, async (req, res) => {
    const v = await visit(req, res, true);
    if (!v) return;
    if ((await passwordKind(v)) === 'directory') return deps.showError(req, res, 409, 'password_directory');
    const signOutEverywhere = field(req.body, 'signout_everywhere') === 'yes';
    const result = await changePassword(
      {
        users: deps.users,
        hasher: deps.hasher,
        throttle: deps.throttle,
        policy: config.passwords.policy,
        ...(deps.history ? { failed: (userId: string) => deps.history!.failed(userId) } : {}),
        record: (e) => record(req, v, 'password.changed', e.details ?? {}, e),
      },
      v.identity,
      {
        current: field(req.body, 'current'),
        password: field(req.body, 'password'),
        repeat: field(req.body, 'repeat'),
        signOutEverywhere,
      },
      req.ip ?? '',
    );
    if (!result.ok)
      return passwordPage(req, res, v, result.error === 'throttled' ? 429 : 400, result, signOutEverywhere);
    if (!result.cut) return res.redirect(303, `${SECURITY}?done=password`);
    // signed out everywhere, this visit included
    await enrolments.clear(binding(v.session));
    res.append('Set-Cookie', await sessions.end(v.session));
    await signInsCountAgain(result.cut);
    send(
      res,
      200,
      renderPage('account/password-changed', deps.page(req, res, PASSWORD), { again: SECURITY }),
    );
  });

  /**
   * Signs the user out on every device and in every application (a lost phone, a borrowed computer): single sign-on
   * sessions, refresh and access tokens from sign-ins until now stop working on every node, this visit included.
   * Recorded first: a sign-out that cannot be recorded does not happen.
   */
  router.post(`${SECURITY}/signout-everywhere`, form, async (req, res) => {
    const v = await visit(req, res, true);
    if (!v) return;
    await record(req, v, 'logout', { everywhere: true });
    const cut = await deps.users.endSessions(v.identity.id);
    await enrolments.clear(binding(v.session));
    res.append('Set-Cookie', await sessions.end(v.session));
    await signInsCountAgain(cut);
    send(res, 200, renderPage('account/signed-out-everywhere', deps.page(req, res), { again: SECURITY }));
  });

  /** Signing out of the account pages signs out of Poort: the provider asks to confirm and ends the session. */
  router.post('/account/signout', form, async (req, res) => {
    const session = await sessions.read(req);
    if (session && !verifyCsrfToken(secrets.csrfKey, binding(session), field(req.body, 'csrf')))
      return deps.showError(req, res, 403, 'csrf');
    if (session) await enrolments.clear(binding(session));
    res.append('Set-Cookie', await sessions.end(session));
    res.redirect(303, `/session/end?client_id=${encodeURIComponent(ACCOUNT_CLIENT_ID)}`);
  });

  return router;
}

/** The account pages over Poort's services, with the sign-in's factor kinds. */
export function accountPages(
  services: Services,
  options: Pick<AccountRouteDeps, 'handler' | 'page' | 'showError' | 'log' | 'history'>,
): Router {
  const { config } = services;
  return accountRoutes({
    ...options,
    config,
    kv: services.kv,
    secrets: services.secrets,
    directory: services.directory,
    factors: services.factors,
    users: services.users,
    hasher: services.hasher,
    throttle: new Throttle(services.kv, config.throttle),
    audit: services.audit,
    recovery: new RecoveryCodes(services.db, services.hasher),
    tokenEndpoint: loopbackTokenEndpoint(config.server.host, config.server.port),
  });
}
