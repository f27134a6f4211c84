import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Request, type Response, type Router } from 'express';
import { newLogin } from '../account/oidc.js';
import { AccountSessions, takeCallback, type AccountLogin, type AccountSession } from '../account/session.js';
import { correlationId, type AuditEventInput } from '../audit/event.js';
import { eventOf, recordedBy, type Actor, type Change } from '../audit/recorded.js';
import type { Identity } from '../directory/identity.js';
import { csrfToken, verifyCsrfToken } from '../http/csrf.js';
import { renderPage, type PageContext } from '../http/render.js';
import type { Logger } from '../log/logger.js';
import { strengthOfAcr, satisfies } from '../mfa/strength.js';
import { redeemInternalCode } from '../oidc/internal-client.js';
import { predatesSignOut } from '../oidc/signed-out.js';
import { describeSource } from '../policy/source.js';
import type { Services } from '../server/services.js';
import type { Db } from '../store/database.js';
import {
  ADMIN_CLIENT_ID,
  adminAuthorizationUrl,
  adminClientSecret,
  adminKey,
  adminRedirectUri,
  requiredAcr,
} from './client.js';
import {
  consoleAccess,
  permissionsOf,
  rolesOfUser,
  type AccessRefusal,
  type AdminRole,
  type Permission,
} from './roles.js';

export const ADMIN = '/admin';

/** A signed-in visit to the console by someone who holds a role now (roles are read from the groups every time). */
export interface AdminVisit {
  session: AccountSession;
  identity: Identity;
  roles: AdminRole[];
  permissions: Set<Permission>;
  csrf: string;
}

export interface AdminConsoleDeps {
  services: Services;
  /** Poort's own token endpoint, reached on this node's listener */
  tokenEndpoint: string;
  page: (req: IncomingMessage, res: ServerResponse, pagePath?: string) => PageContext;
  showError: (req: Request, res: Response, status: number, code: string) => void;
  log: Logger;
}

export const adminForm = express.urlencoded({ extended: false, limit: '256kb', parameterLimit: 20 });

export function field(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

/** Where to come back to after signing in: a console page of this Poort, never anywhere else. */
function returnPath(url: string): string {
  const { pathname, search } = new URL(url, 'http://x');
  return pathname === ADMIN || pathname.startsWith(`${ADMIN}/`) ? `${pathname}${search}` : ADMIN;
}

/**
 * What every console page shares: the sign-in (a fresh one with the second factor `admin.require` names, each time a
 * session begins), the session, the role check on every request, CSRF on every form, and the audit events, with the
 * signed-in person as actor.
 */
export class AdminConsole {
  readonly router: Router = express.Router();
  readonly #sessions: AccountSessions;
  readonly #acr: string;

  constructor(readonly deps: AdminConsoleDeps) {
    const { config, kv, secrets } = deps.services;
    this.#sessions = new AccountSessions(
      kv,
      adminKey(secrets, 'cookie'),
      { secure: config.server.issuer.startsWith('https:') },
      { name: 'admin', seconds: config.admin.session_lifetime },
    );
    this.#acr = requiredAcr(config.admin.require, config.oidc.acr);
    this.router.get('/admin/callback', (req, res) => this.#callback(req, res));
    this.router.post('/admin/signout', adminForm, (req, res) => this.#signOut(req, res));
  }

  get config() {
    return this.deps.services.config;
  }

  #binding(session: AccountSession): string {
    return `admin:${session.sid}`;
  }

  async #startLogin(res: Response, returnTo: string): Promise<void> {
    const login: AccountLogin = newLogin(returnTo);
    res.append('Set-Cookie', await this.#sessions.startLogin(login));
    res.redirect(303, adminAuthorizationUrl(this.config.server.issuer, login, this.#acr));
  }

  /** The audit event of a console step, with the signed-in person (or whoever tried) as actor. */
  event(req: Request, actor: Actor, session: string | undefined, change: Change): AuditEventInput {
    return eventOf(actor, {
      application: { id: ADMIN_CLIENT_ID, protocol: 'oidc' },
      source: describeSource(req.ip ?? '', req.headers),
      ...(session ? { correlation: correlationId(session) } : {}),
      ...change,
      // the console's own mark, unless the step names its channel itself (a reset link: via helpdesk)
      details: { via: 'admin', ...change.details },
    });
  }

  /** Where a console step came from, for events recorded by code outside the console (a policy version). */
  origin(req: Request, v: AdminVisit): Pick<Change, 'source' | 'application' | 'correlation'> {
    const { source, application, correlation } = this.event(req, this.actor(v), v.session.sid, {
      action: 'admin.access',
    });
    return {
      ...(source ? { source } : {}),
      ...(application ? { application } : {}),
      ...(correlation ? { correlation } : {}),
    };
  }

  actor(v: Pick<AdminVisit, 'identity' | 'roles'>): Actor {
    return { type: 'admin', id: v.identity.id, name: v.identity.username };
  }

  async record(req: Request, v: AdminVisit, change: Change): Promise<void> {
    await this.deps.services.audit.append(
      this.event(req, this.actor(v), v.session.sid, {
        ...change,
        details: { ...change.details, roles: v.roles },
      }),
    );
  }

  /** A change to the store and its events in one transaction: a change that cannot be recorded does not happen. */
  async recorded<T>(
    req: Request,
    v: AdminVisit,
    fn: (db: Db) => Promise<{ result: T; changes: Change[] }>,
  ): Promise<T> {
    const dressed = (change: Change): Change => {
      const {
        actor: _actor,
        outcome: _outcome,
        ...rest
      } = this.event(req, this.actor(v), v.session.sid, {
        ...change,
        details: { ...change.details, roles: v.roles },
      });
      return { ...rest, ...(change.outcome ? { outcome: change.outcome } : {}) };
    };
    return recordedBy(this.deps.services, this.actor(v), async (db) => {
      const { result, changes } = await fn(db);
      return { result, changes: changes.map(dressed) };
    });
  }

  send(res: Response, status: number, html: string): void {
    res.status(status).type('html').send(html);
  }

  /** A console page: the layout's navigation shows only what the visitor's roles may open. */
  render(
    req: Request,
    res: Response,
    v: AdminVisit,
    view: string,
    /** or made from the page (its language), for what is written out before rendering */
    vars: Record<string, unknown> | ((page: PageContext) => Record<string, unknown>),
    status = 200,
  ): void {
    const page = this.deps.page(req, res, req.method === 'POST' ? undefined : req.originalUrl);
    const dates = new Intl.DateTimeFormat(page.lang, {
      dateStyle: 'medium',
      timeStyle: 'medium',
      timeZone: 'UTC',
    });
    this.send(
      res,
      status,
      renderPage(`admin/${view}`, page, {
        /** an ISO-8601 time as the visitor's language writes it, in UTC (as the trail keeps it) */
        when: (iso: string | null | undefined) => (iso ? `${dates.format(new Date(iso))} UTC` : ''),
        admin: {
          username: v.identity.username,
          roles: v.roles,
          can: Object.fromEntries([...v.permissions].map((p) => [p.replace('.', '_'), true])),
          csrf: v.csrf,
          signout: '/admin/signout',
        },
        ...(typeof vars === 'function' ? vars(page) : vars),
      }),
    );
  }

  #refused(req: Request, res: Response, reason: AccessRefusal | 'mfa_required' | 'forbidden'): void {
    const page = this.deps.page(req, res);
    this.send(res, 403, renderPage('admin/refused', page, { reason, account: '/account/security' }));
  }

  /**
   * The visit, when the visitor may do `permission`. Without a session a GET goes to sign in first and a POST back to
   * the start page; a session whose person lost every role, was disabled or signed out everywhere ends; a request
   * for what the roles do not allow is refused and recorded.
   */
  async visit(
    req: Request,
    res: Response,
    permission: Permission | undefined,
    post: boolean,
  ): Promise<AdminVisit | undefined> {
    const session = await this.#sessions.read(req);
    const found = session ? await this.deps.services.directory.findById(session.userId) : undefined;
    const identity = found && session && !predatesSignOut(found, session) ? found : undefined;
    if (!session || !identity) {
      if (session) res.append('Set-Cookie', await this.#sessions.end(session));
      if (post) res.redirect(303, ADMIN);
      else await this.#startLogin(res, returnPath(req.originalUrl));
      return undefined;
    }
    const roles = rolesOfUser(identity, this.config.admin);
    const access = consoleAccess(roles, this.config.admin.separate_duties);
    if (!access.ok) {
      await this.deps.services.audit.append(
        this.event(req, { type: 'admin', id: identity.id, name: identity.username }, session.sid, {
          action: 'admin.access',
          outcome: 'denied',
          reason: access.reason,
          subject: { id: identity.id, username: identity.username },
          details: { roles },
        }),
      );
      res.append('Set-Cookie', await this.#sessions.end(session));
      this.#refused(req, res, access.reason);
      return undefined;
    }
    const csrf = csrfToken(this.deps.services.secrets.csrfKey, this.#binding(session));
    const v: AdminVisit = { session, identity, roles, permissions: permissionsOf(roles), csrf };
    if (
      post &&
      !verifyCsrfToken(this.deps.services.secrets.csrfKey, this.#binding(session), field(req.body, 'csrf'))
    ) {
      this.deps.showError(req, res, 403, 'csrf');
      return undefined;
    }
    if (permission && !v.permissions.has(permission)) {
      await this.record(req, v, {
        action: 'admin.access',
        outcome: 'denied',
        reason: 'forbidden',
        subject: { id: identity.id, username: identity.username },
        details: { permission, path: req.path },
      });
      this.#refused(req, res, 'forbidden');
      return undefined;
    }
    return v;
  }

  async #callback(req: Request, res: Response): Promise<void> {
    const { services } = this.deps;
    const issuer = this.config.server.issuer;
    const back = await takeCallback(req, res, this.#sessions, issuer, this.deps.showError, ADMIN);
    if (!back) return;
    const { login } = back;
    const signedIn = await redeemInternalCode(
      {
        issuer,
        tokenEndpoint: this.deps.tokenEndpoint,
        clientId: ADMIN_CLIENT_ID,
        clientSecret: adminClientSecret(services.secrets),
        redirectUri: adminRedirectUri(issuer),
      },
      back.code,
      login,
    );
    if (!signedIn.ok || signedIn.authTime < login.startedAt) {
      this.deps.log.warn(
        { event: 'admin.signin', error: signedIn.ok ? 'not_fresh' : signedIn.error },
        'console sign-in not completed',
      );
      return this.deps.showError(req, res, 400, 'session_expired');
    }
    const identity = await services.directory.findById(signedIn.sub);
    if (!identity) return this.deps.showError(req, res, 403, 'access_denied');
    const roles = rolesOfUser(identity, this.config.admin);
    const strong = satisfies(
      strengthOfAcr(signedIn.acr, this.config.oidc.acr),
      this.config.admin.require === 'any' ? 'any' : 'phishing_resistant',
    );
    const access = strong ? consoleAccess(roles, this.config.admin.separate_duties) : undefined;
    const actor: Actor = { type: 'admin', id: identity.id, name: identity.username };
    if (!access?.ok) {
      const reason = access ? access.reason : 'mfa_required';
      await services.audit.append(
        this.event(req, actor, undefined, {
          action: 'admin.access',
          outcome: 'denied',
          reason,
          subject: { id: identity.id, username: identity.username },
          details: { roles, ...(signedIn.acr ? { acr: signedIn.acr } : {}) },
        }),
      );
      return this.#refused(req, res, reason);
    }
    const { session, setCookie: sessionCookie } = await this.#sessions.create(
      identity.id,
      signedIn.authTime,
      signedIn.sid,
    );
    await services.audit.append(
      this.event(req, actor, session.sid, {
        action: 'admin.access',
        subject: { id: identity.id, username: identity.username },
        details: { roles, amr: signedIn.amr },
      }),
    );
    res.append('Set-Cookie', sessionCookie);
    res.redirect(303, login.returnTo);
  }

  /** Signing out of the console ends its session and Poort's single sign-on session, as the account pages do. */
  async #signOut(req: Request, res: Response): Promise<void> {
    const session = await this.#sessions.read(req);
    if (
      session &&
      !verifyCsrfToken(this.deps.services.secrets.csrfKey, this.#binding(session), field(req.body, 'csrf'))
    )
      return this.deps.showError(req, res, 403, 'csrf');
    res.append('Set-Cookie', await this.#sessions.end(session));
    res.redirect(303, `/session/end?client_id=${encodeURIComponent(ADMIN_CLIENT_ID)}`);
  }
}
