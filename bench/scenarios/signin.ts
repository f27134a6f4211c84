import crypto from 'node:crypto';
import { BenchError, basicAuth, CookieJar, expectJson, type HttpClient, type HttpResponse } from '../http.js';
import type { Workload } from '../load.js';
import { BENCH_CLIENT, BENCH_PASSWORD, benchUsername } from '../server.js';

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  id_token?: string;
  refresh_token?: string;
  scope?: string;
}

const SCOPE = 'openid profile email groups';
const MAX_HOPS = 10;

function decodeEntities(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_m, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_m, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** A browser: one cookie jar, requests in order, redirects followed by hand. */
class Browser {
  constructor(
    private readonly http: HttpClient,
    private readonly jar: CookieJar,
    /** the origins that are this server (the issuer, and loopback on its port) */
    private readonly origins: ReadonlySet<string>,
  ) {}

  async request(
    step: string,
    method: string,
    path: string,
    form?: Record<string, string>,
  ): Promise<HttpResponse> {
    const cookie = this.jar.header(path.split('?')[0]!);
    const res = await this.http.request(method, path, { headers: cookie ? { cookie } : {}, form });
    this.jar.store(res.headers['set-cookie']);
    if (res.status >= 400) throw new BenchError(step, `${method} ${path.split('?')[0]}`, res);
    return res;
  }

  /**
   * Follows redirects from `res` while they stay on this server. Returns the last response from the server, or the
   * URL of the first redirect that leaves it (the application's callback, which is never contacted).
   */
  async follow(
    step: string,
    res: HttpResponse,
    from: string,
  ): Promise<{ page: HttpResponse } | { left: URL }> {
    let current = res;
    let base = new URL(from, [...this.origins][0]);
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const location = current.headers.location;
      if (current.status < 300 || current.status >= 400 || !location) return { page: current };
      const next = new URL(location, base);
      if (!this.origins.has(next.origin)) return { left: next };
      current = await this.request(`${step} (redirect ${hop + 1})`, 'GET', next.pathname + next.search);
      base = next;
    }
    throw new BenchError(step, `more than ${MAX_HOPS} redirects`);
  }
}

/**
 * One complete password sign-in in a fresh browser: authorize (PKCE S256, state) → sign-in page → POST credentials →
 * redirects back to the application with a code → code exchanged at the token endpoint (client_secret_basic).
 */
export async function signIn(
  http: HttpClient,
  issuer: string,
  jar: CookieJar,
  username: string,
): Promise<TokenResponse> {
  const origins = new Set([new URL(issuer).origin, `http://127.0.0.1:${http.port}`]);
  const browser = new Browser(http, jar, origins);
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const state = crypto.randomBytes(16).toString('base64url');
  const authorize = `/auth?${new URLSearchParams({
    client_id: BENCH_CLIENT.clientId,
    redirect_uri: BENCH_CLIENT.redirectUri,
    response_type: 'code',
    scope: SCOPE,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString()}`;

  // the sign-in page comes at the authorization endpoint itself; redirects are followed all the same
  const first = await browser.request('authorize', 'GET', authorize);
  const shown = await browser.follow('authorize', first, authorize);
  if (!('page' in shown) || shown.page.status !== 200) {
    throw new BenchError('authorize', 'expected the sign-in page', 'page' in shown ? shown.page : undefined);
  }
  const page = shown.page;
  const action = /<form\b[^>]*\baction="([^"]*\/login)"/.exec(page.body)?.[1];
  const csrf = /<input\b[^>]*\bname="csrf"[^>]*\bvalue="([^"]*)"/.exec(page.body)?.[1];
  if (!action || !csrf) throw new BenchError('sign-in page', 'no sign-in form with a csrf field', page);

  const actionPath = decodeEntities(action);
  const posted = await browser.request('credentials', 'POST', actionPath, {
    csrf: decodeEntities(csrf),
    username,
    password: BENCH_PASSWORD,
  });
  if (posted.status < 300 || posted.status >= 400)
    throw new BenchError('credentials', 'expected a redirect after sign-in', posted);
  const back = await browser.follow('resume', posted, actionPath);
  if (!('left' in back)) throw new BenchError('resume', 'expected a redirect to the application', back.page);
  const callback = back.left;
  if (callback.origin + callback.pathname !== BENCH_CLIENT.redirectUri)
    throw new BenchError('resume', `redirected to ${callback.href}`);
  if (callback.searchParams.get('error'))
    throw new BenchError('resume', `error at the callback: ${callback.search}`);
  if (callback.searchParams.get('state') !== state) throw new BenchError('resume', 'state does not match');
  const code = callback.searchParams.get('code');
  if (!code) throw new BenchError('resume', `no code at the callback: ${callback.search}`);

  const tokenRes = await http.request('POST', '/token', {
    headers: { authorization: basicAuth(BENCH_CLIENT.clientId, BENCH_CLIENT.secret) },
    form: {
      grant_type: 'authorization_code',
      code,
      redirect_uri: BENCH_CLIENT.redirectUri,
      code_verifier: verifier,
    },
  });
  const tokens = expectJson<TokenResponse>('token (authorization_code)', tokenRes);
  if (!tokens.access_token || !tokens.id_token)
    throw new BenchError('token (authorization_code)', 'no access or ID token', tokenRes);
  return tokens;
}

/** Each virtual user signs in as its own user, in a fresh browser every time (a new person at the sign-in page). */
export function signInWorkload(http: HttpClient, issuer: string, concurrency: number): Workload {
  const jars = Array.from({ length: concurrency }, () => new CookieJar());
  return {
    name: 'signin',
    concurrency,
    async op(vu) {
      const jar = jars[vu]!;
      jar.clear();
      await signIn(http, issuer, jar, benchUsername(vu));
    },
  };
}
