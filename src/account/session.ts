import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Request, Response } from 'express';
import { readCookie } from '../http/i18n.js';
import { takeOnce, type KeyValueStore } from '../store/kv.js';
import { EndedSignOns } from '../oidc/ended-sign-ons.js';

/** The account pages need a fresh sign-in: a session lasts ten minutes, then the password is asked again. */
export const ACCOUNT_SESSION_SECONDS = 600;

/** A signed-in visit to the account pages. */
export interface AccountSession {
  /** random; binds CSRF tokens and enrolments to this session */
  sid: string;
  userId: string;
  /** epoch seconds of the sign-in */
  authTime: number;
  /** the `sid` of the ID token of the sign-in: a logout of that single sign-on session ends this one too */
  sso?: string;
}

/** An authorization request of the account pages, between sending the browser away and its return. */
export interface AccountLogin {
  state: string;
  nonce: string;
  verifier: string;
  /** epoch seconds: the sign-in must be newer than this */
  startedAt: number;
  /** the account page to return to */
  returnTo: string;
  /** a second round for the second factor of a user who has one, after a sign-in with the password alone */
  stepUp?: boolean;
}

export interface CookieOptions {
  secure: boolean;
}

/** Which pages a set of sessions serves: its cookies' names and path, its keys' prefix and its lifetime. */
export interface SessionScope {
  /** `account`: cookies poort_account and poort_account_login on /account, keys account:… */
  name: string;
  seconds: number;
}

export const ACCOUNT_SCOPE: SessionScope = { name: 'account', seconds: ACCOUNT_SESSION_SECONDS };

function cookie(
  scope: SessionScope,
  name: string,
  value: string,
  maxAge: number,
  options: CookieOptions,
): string {
  return [
    `${name}=${value}`,
    `Path=/${scope.name}`,
    `Max-Age=${maxAge}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}

/**
 * Account sessions: kept server-side in the key-value store (so signing out ends them everywhere), named in a
 * cookie whose value is signed with a key derived from Poort's secret material.
 */
export class AccountSessions {
  readonly #cookie: string;
  readonly #loginCookie: string;
  readonly #ended: EndedSignOns;

  constructor(
    private readonly kv: KeyValueStore,
    private readonly key: Buffer,
    private readonly options: CookieOptions,
    private readonly scope: SessionScope = ACCOUNT_SCOPE,
  ) {
    this.#cookie = `poort_${scope.name}`;
    this.#loginCookie = `poort_${scope.name}_login`;
    this.#ended = new EndedSignOns(kv);
  }

  private cookie(name: string, value: string, maxAge: number): string {
    return cookie(this.scope, name, value, maxAge, this.options);
  }

  private sign(value: string): string {
    return crypto.createHmac('sha256', this.key).update(value).digest('base64url');
  }

  private signed(value: string): string {
    return `${value}.${this.sign(value)}`;
  }

  /** The value of a signed cookie, or undefined when it was not made here. */
  private verified(text: string | undefined): string | undefined {
    if (!text || text.length > 200) return undefined;
    const dot = text.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const value = text.slice(0, dot);
    const expected = Buffer.from(this.sign(value));
    const given = Buffer.from(text.slice(dot + 1));
    return given.length === expected.length && crypto.timingSafeEqual(given, expected) ? value : undefined;
  }

  /** Starts a session; returns it and the Set-Cookie value. */
  async create(
    userId: string,
    authTime: number,
    sso: string | undefined,
  ): Promise<{ session: AccountSession; setCookie: string }> {
    const session: AccountSession = {
      sid: crypto.randomBytes(24).toString('base64url'),
      userId,
      authTime,
      ...(sso ? { sso } : {}),
    };
    await this.kv.set(`${this.scope.name}:session:${session.sid}`, session, this.scope.seconds);
    return {
      session,
      setCookie: this.cookie(this.#cookie, this.signed(session.sid), this.scope.seconds),
    };
  }

  async read(req: IncomingMessage): Promise<AccountSession | undefined> {
    const sid = this.verified(readCookie(req.headers.cookie, this.#cookie));
    if (!sid) return undefined;
    const session = await this.kv.get<AccountSession>(`${this.scope.name}:session:${sid}`);
    if (session?.sid !== sid) return undefined;
    if (session.sso && (await this.#ended.ended(session.sso))) {
      await this.kv.delete(`${this.scope.name}:session:${sid}`);
      return undefined;
    }
    return session;
  }

  /** Ends a session; returns the Set-Cookie value that clears it. */
  async end(session: AccountSession | undefined): Promise<string> {
    if (session) await this.kv.delete(`${this.scope.name}:session:${session.sid}`);
    return this.cookie(this.#cookie, '', 0);
  }

  /** Remembers an authorization request, bound to this browser by a cookie holding its state. */
  async startLogin(login: AccountLogin): Promise<string> {
    await this.kv.set(`${this.scope.name}:login:${login.state}`, login, this.scope.seconds);
    return this.cookie(this.#loginCookie, this.signed(login.state), this.scope.seconds);
  }

  /**
   * The authorization request a callback answers, once: its state must be the one this browser's cookie holds, so a
   * sign-in started elsewhere (login CSRF) is refused. Returns the request and the Set-Cookie value that clears it.
   */
  async takeLogin(
    req: IncomingMessage,
    state: string,
  ): Promise<{ login: AccountLogin | undefined; setCookie: string }> {
    const setCookie = this.cookie(this.#loginCookie, '', 0);
    const own = this.verified(readCookie(req.headers.cookie, this.#loginCookie));
    if (!own || own !== state) return { login: undefined, setCookie };
    const login = await takeOnce<AccountLogin>(this.kv, `${this.scope.name}:login:${state}`);
    return { login, setCookie };
  }
}

/**
 * The first half of the callback of one of Poort's own clients (the account pages, the administration console): the
 * authorization request this browser started, its cookie cleared, and the code. Without one (a second tab, a replay,
 * someone else's sign-in) the browser starts over at `startOver`; another issuer, or an error the provider sent, gets
 * an error page. Returns undefined when it has answered.
 */
export async function takeCallback(
  req: Request,
  res: Response,
  sessions: AccountSessions,
  issuer: string,
  showError: (req: Request, res: Response, status: number, code: string) => void,
  startOver: string,
): Promise<{ login: AccountLogin; code: string } | undefined> {
  const query = (name: string) => (typeof req.query[name] === 'string' ? req.query[name] : '');
  const { login, setCookie } = await sessions.takeLogin(req, query('state'));
  res.append('Set-Cookie', setCookie);
  if (!login) {
    res.redirect(303, startOver);
    return undefined;
  }
  if (query('iss') && query('iss') !== issuer) {
    showError(req, res, 400, 'invalid_request');
    return undefined;
  }
  if (query('error')) {
    showError(req, res, 403, query('error') === 'access_denied' ? 'access_denied' : 'invalid_request');
    return undefined;
  }
  return { login, code: query('code') };
}
