import * as oidc from 'openid-client';
import type { UpstreamProviderConfig } from './config.js';

/** The provider could not be asked (discovery, token or userinfo endpoint unreachable, or answering 5xx). */
export class UpstreamUnavailableError extends Error {
  override readonly name = 'UpstreamUnavailableError';
}

/** What the provider's answer came to. */
export type UpstreamAnswer =
  /** `idToken`: the provider's ID token itself, the hint of a sign-out there */
  | { ok: true; claims: Record<string, unknown>; idToken: string }
  /** the provider said no (`access_denied`: the person cancelled or may not use the application there) */
  | { ok: false; reason: 'refused'; error: string }
  /** the answer did not hold up: bad state or nonce, a token that does not verify, an error at the token endpoint */
  | { ok: false; reason: 'invalid_response'; detail: string };

/** The checks one authorization request must pass when it comes back. */
export interface PendingChecks {
  state: string;
  nonce: string;
  verifier: string;
}

/**
 * Poort as a relying party of one upstream provider, through openid-client: discovery (kept once it worked),
 * authorization code with PKCE, state and nonce, the client secret over HTTP Basic, the ID token verified against
 * the provider's keys, and userinfo where configured.
 */
export class UpstreamClient {
  #configuration?: Promise<oidc.Configuration>;

  constructor(
    readonly settings: UpstreamProviderConfig,
    readonly redirectUri: string,
  ) {}

  private configuration(): Promise<oidc.Configuration> {
    this.#configuration ??= oidc
      .discovery(
        new URL(this.settings.issuer),
        this.settings.client_id,
        undefined,
        oidc.ClientSecretBasic(this.settings.client_secret),
        {
          ...(this.settings.issuer.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : {}),
          timeout: 10,
        },
      )
      .catch((err: unknown) => {
        this.#configuration = undefined;
        throw new UpstreamUnavailableError(
          `the OpenID provider ${this.settings.issuer} cannot be discovered: ${message(err)}`,
          {
            cause: err,
          },
        );
      });
    return this.#configuration;
  }

  async authorizationUrl(checks: PendingChecks, extra: Record<string, string> = {}): Promise<URL> {
    const config = await this.configuration();
    return oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: this.settings.scopes.join(' '),
      response_type: 'code',
      state: checks.state,
      nonce: checks.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(checks.verifier),
      code_challenge_method: 'S256',
      ...extra,
    });
  }

  /**
   * Redeems the code in `query` (the parameters the provider sent the browser back with) and reads the user's
   * claims. The callback's URL is the registered redirect URI, whatever proxies made of the request on the way.
   */
  async complete(query: URLSearchParams, checks: PendingChecks): Promise<UpstreamAnswer> {
    const config = await this.configuration();
    const callback = new URL(this.redirectUri);
    callback.search = query.toString();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(
        config,
        callback,
        {
          pkceCodeVerifier: checks.verifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
        },
        { redirect_uri: this.redirectUri },
      );
    } catch (err) {
      return this.failure(err);
    }
    const claims: Record<string, unknown> = { ...tokens.claims() };
    if (this.settings.userinfo) {
      try {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, String(claims.sub));
        // the ID token is signed by the provider: where both say something, it wins
        for (const [name, value] of Object.entries(info))
          if (claims[name] === undefined) claims[name] = value;
      } catch (err) {
        return this.failure(err);
      }
    }
    return { ok: true, claims, idToken: tokens.id_token! };
  }

  /**
   * Where to send the browser to sign out at the provider (RP-initiated logout), coming back to
   * `postLogoutRedirectUri` with `state`. Throws UpstreamUnavailableError when the provider cannot be discovered or
   * names no end_session_endpoint.
   */
  async endSessionUrl(params: {
    idTokenHint: string;
    postLogoutRedirectUri: string;
    state: string;
  }): Promise<URL> {
    const config = await this.configuration();
    if (!config.serverMetadata().end_session_endpoint) {
      throw new UpstreamUnavailableError(
        `the OpenID provider ${this.settings.issuer} names no end_session_endpoint: it cannot sign anyone out`,
      );
    }
    return oidc.buildEndSessionUrl(config, {
      id_token_hint: params.idTokenHint,
      post_logout_redirect_uri: params.postLogoutRedirectUri,
      state: params.state,
    });
  }

  private failure(err: unknown): UpstreamAnswer {
    if (err instanceof oidc.AuthorizationResponseError)
      return { ok: false, reason: 'refused', error: err.error };
    if (err instanceof oidc.ResponseBodyError && err.status >= 500) {
      throw new UpstreamUnavailableError(
        `the OpenID provider ${this.settings.issuer} failed: ${err.message}`,
        { cause: err },
      );
    }
    if (isNetworkError(err)) {
      throw new UpstreamUnavailableError(
        `the OpenID provider ${this.settings.issuer} does not answer: ${message(err)}`,
        {
          cause: err,
        },
      );
    }
    return { ok: false, reason: 'invalid_response', detail: message(err) };
  }
}

function message(err: unknown): string {
  const cause = (err as { cause?: { message?: string; code?: string } }).cause;
  const own = err instanceof Error ? err.message : String(err);
  return cause?.code ? `${own} (${cause.code})` : own;
}

/** fetch's failures to connect: a TypeError whose cause is the socket's error, or a timeout. */
function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return true;
  return err instanceof TypeError && /fetch failed/i.test(err.message);
}
