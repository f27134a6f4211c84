import type { IncomingMessage, ServerResponse } from 'node:http';
import Provider, { type Configuration, type Interaction, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config/schema.js';
import type { Directory } from '../directory/identity.js';
import type { SigningKey } from '../keys/keystore.js';
import type { Logger } from '../log/logger.js';
import type { ClientRepository } from '../clients/clients.js';
import type { KeyValueStore } from '../store/kv.js';
import type { AuditLog } from '../audit/log.js';
import { OidcAdapter } from './adapter.js';
import { auditProtocol } from './audit.js';
import { storeOutageResponses } from './store-outage.js';
import { isStoreUnavailable } from '../store/unavailable.js';
import { identityClaims, SCOPE_CLAIMS, SCOPES } from './claims.js';
import { clientFlag } from './client-flags.js';
import { acceptPreviousSecrets } from './previous-secret.js';
import { withoutProviderRequestStorage } from './request-context.js';
import { interactions, type SessionPolicyCheck } from './step-up.js';
import { predatesSignOut, type TokenTimes } from './signed-out.js';
import { SessionStrengths, type LoginResult } from './session-strength.js';

/** How oidc-provider's own pages (errors, logout) are rendered: by Poort's templates in the visitor's language. */
export interface ProviderPages {
  error(
    req: IncomingMessage,
    res: ServerResponse,
    error: { code: string; description?: string; status: number },
  ): string;
  logout(req: IncomingMessage, res: ServerResponse, form: string, clientName?: string): string;
  loggedOut(req: IncomingMessage, res: ServerResponse, clientName?: string): string;
  /** the sign-in form of a new interaction, where it needs nothing else first */
  signIn?(req: IncomingMessage, res: ServerResponse, interaction: Interaction): Promise<string | undefined>;
}

export interface ProviderDeps {
  config: Config;
  signingKeys: SigningKey[];
  cookieKeys: string[];
  kv: KeyValueStore;
  clients: ClientRepository;
  directory: Directory;
  audit: AuditLog;
  pages: ProviderPages;
  log: Logger;
  /** the contextual policy's say on single sign-on sessions (step-up) */
  sessionPolicy?: SessionPolicyCheck;
  /** authorization parameters beyond the standard ones, with their checks (the SAML front-end's service provider) */
  extraParams?: Configuration['extraParams'];
  /** after a logout ended a session: where to send the browser first (the SAML SPs of that session), if anywhere */
  afterLogout?: (sessionUid: string, location: string) => Promise<string | undefined>;
  /** a logout ended a single sign-on session: the sid its ID tokens gave each client */
  signOnEnded?: (sids: ReadonlyMap<string, string>) => Promise<void>;
  /** a sign-in (interaction `interactionUid`) has just become single sign-on session `sessionUid`'s */
  signedIn?: (interactionUid: string, sessionUid: string, accountId: string) => Promise<void>;
}

const interactionPath = (uid: string) => `/signin/${uid}`;

/** A Poort-shaped oidc-provider: Poort's storage, accounts, pages and key material; no development defaults. */
export function createProvider(deps: ProviderDeps): Provider {
  const { config, kv, clients, directory, pages, log } = deps;
  const secure = config.server.issuer.startsWith('https:');
  const ttl = config.oidc.ttl;
  const strengths = new SessionStrengths(kv, config.oidc.acr, ttl.session);

  const configuration: Configuration = {
    adapter: (name: string) => new OidcAdapter(name, kv, clients),
    jwks: { keys: deps.signingKeys.map((k) => k.jwk) as NonNullable<Configuration['jwks']>['keys'] },
    cookies: {
      keys: deps.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', secure },
      short: { httpOnly: true, sameSite: 'lax', secure },
    },
    claims: {
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      iss: null,
      ...SCOPE_CLAIMS,
    } as unknown as Configuration['claims'],
    scopes: SCOPES,
    responseTypes: ['code'],
    conformIdTokenClaims: false,
    extraClientMetadata: {
      properties: [
        'poort_first_party',
        'poort_require_pkce',
        'poort_previous_secret',
        'poort_previous_secret_expires_at',
      ],
    },
    ...(deps.extraParams ? { extraParams: deps.extraParams } : {}),
    acrValues: [config.oidc.acr.password, config.oidc.acr.mfa, config.oidc.acr.phishing_resistant],
    // Also asked for the token behind a code exchange, a refresh or userinfo: a token from before the user was
    // signed out everywhere finds no account (invalid_grant, invalid_token).
    async findAccount(_ctx, sub, token) {
      const identity = await directory.findById(sub);
      if (!identity || (token && predatesSignOut(identity, token as TokenTimes))) return undefined;
      return { accountId: identity.id, claims: async () => identityClaims(identity) as { sub: string } };
    },
    interactions: {
      policy: interactions(config.oidc.acr, strengths, deps.sessionPolicy),
      url: (_ctx, interaction) => interactionPath(interaction.uid),
    },
    // First-party applications need no consent: the organisation gave it when it registered them.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      // oidc-provider puts `sid` in ID tokens only for clients doing session-bound logout; Poort always does, so an
      // application can match back-channel logout tokens to its sessions (oidc-provider gives each application its
      // own sid for one session). This hook runs in every authorization request after the requested claims are
      // read, which makes it the place to ask for it.
      const oidcCtx = ctx.oidc as unknown as { claims?: { id_token?: Record<string, unknown> } };
      oidcCtx.claims ??= {};
      oidcCtx.claims.id_token ??= {};
      oidcCtx.claims.id_token.sid ??= null;
      const { client, session, result, params } = ctx.oidc;
      if (!client || !session) return undefined;
      const grantId =
        (result?.consent as { grantId?: string } | undefined)?.grantId ?? session.grantIdFor(client.clientId);
      const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (existing || !clientFlag(client, 'poort_first_party') || !session.accountId) return existing;
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope(String(params?.scope ?? 'openid'));
      await grant.save();
      session.grantIdFor(client.clientId, grant.jti);
      return grant;
    },
    pkce: {
      required: (_ctx, client) =>
        client.clientAuthMethod === 'none' || clientFlag(client, 'poort_require_pkce'),
    },
    // The only calls oidc-provider makes out here are back-channel logout notices (Poort enables no dynamic
    // registration, request_uri, jwks_uri or sector identifiers), sent to addresses an administrator registered.
    // An organisation's applications mostly live on its private network, which oidc-provider's SSRF guard (the
    // `dispatcher` it passes) refuses without a word: deliver to them without it, keeping its timeout.
    fetch: (url, init) => {
      const { dispatcher: _ssrfGuard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
      return fetch(url, rest);
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Any confidential client may introspect (resource servers check other applications' tokens); a public
      // client only its own tokens. Revocation: only the client a token was issued to.
      introspection: {
        enabled: true,
        // A token of a user who is gone, disabled or signed out everywhere since is reported inactive too.
        allowedPolicy: async (ctx, client, token) => {
          if (client.clientAuthMethod === 'none' && token.clientId !== ctx.oidc.client?.clientId)
            return false;
          const { accountId } = token as { accountId?: string };
          if (!accountId) return true;
          const identity = await directory.findById(accountId);
          return identity !== undefined && !predatesSignOut(identity, token as TokenTimes);
        },
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      backchannelLogout: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = pages.logout(ctx.req, ctx.res, form, ctx.oidc.client?.clientName);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = pages.loggedOut(ctx.req, ctx.res, ctx.oidc.client?.clientName);
        },
      },
    },
    async renderError(ctx, out, error) {
      const unavailable = isStoreUnavailable(error);
      const status = unavailable ? 503 : ((error as { status?: number }).status ?? 400);
      if (unavailable) ctx.status = 503;
      else if (status >= 500) log.error({ err: error }, 'oidc-provider error');
      ctx.type = 'html';
      ctx.body = pages.error(ctx.req, ctx.res, {
        code: unavailable ? 'unavailable' : String(out.error),
        description: out.error_description as string | undefined,
        status,
      });
    },
    ttl: {
      AccessToken: ttl.access_token,
      AuthorizationCode: ttl.authorization_code,
      ClientCredentials: ttl.client_credentials,
      IdToken: ttl.id_token,
      Interaction: ttl.interaction,
      RefreshToken: ttl.refresh_token,
      Session: ttl.session,
      Grant: ttl.grant,
    },
  };

  if (!withoutProviderRequestStorage())
    log.warn(
      { event: 'oidc.request_storage' },
      "oidc-provider's request storage was not found where expected: left on",
    );
  const provider = new Provider(config.server.issuer, configuration);
  provider.proxy = config.server.trust_proxy.length > 0;
  acceptPreviousSecrets(provider);
  provider.use(
    auditProtocol(deps.audit, log, (ctx) =>
      pages.error(ctx.req, ctx.res, { code: 'unavailable', status: 503 }),
    ),
  );
  provider.use(
    storeOutageResponses(provider, (ctx) =>
      pages.error(ctx.req, ctx.res, { code: 'unavailable', status: 503 }),
    ),
  );
  // A finished sign-in has just become the session's: keep its second factor's strength where the acr cannot say it.
  // Without the record the session counts as its acr says (weaker), so a failure here costs a prompt, not access.
  const { signedIn } = deps;
  provider.use(async (ctx, next) => {
    await next();
    const { route, result, session } = ctx.oidc ?? {};
    if (route !== 'resume' || !result?.login || !session) return;
    await strengths
      .signedIn(session, (result as LoginResult).strength)
      .catch((err: unknown) =>
        log.warn({ err }, 'could not keep the strength of a sign-in with its session'),
      );
    const interaction = ctx.oidc?.entities.Interaction;
    if (signedIn && interaction && session.accountId) {
      // what the sign-in leaves for its session's logout; without it, the logout ends Poort's session only
      await signedIn(interaction.uid, session.uid, session.accountId).catch((err: unknown) =>
        log.warn({ err }, 'could not keep what a sign-in leaves for its session’s logout'),
      );
    }
  });
  // A new sign-in shows its form at once, at the authorization endpoint, instead of redirecting to /signin/:uid to
  // show it there: one round trip less for every sign-in. The interaction and its cookies are the same.
  const { signIn } = pages;
  if (signIn) {
    provider.use(async (ctx, next) => {
      await next();
      const interaction = ctx.oidc?.entities.Interaction;
      if (ctx.oidc?.route !== 'authorization' || ctx.status !== 303 || !interaction) return;
      if (ctx.response.get('location') !== interactionPath(interaction.uid)) return;
      const html = await signIn(ctx.req, ctx.res, interaction);
      if (html === undefined) return;
      ctx.remove('Location');
      ctx.status = 200;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = html;
    });
  }
  const { signOnEnded } = deps;
  if (signOnEnded) {
    provider.use(async (ctx, next) => {
      await next();
      const session = ctx.oidc?.session;
      if (
        ctx.oidc?.route !== 'end_session_confirm' ||
        ctx.status !== 303 ||
        !ctx.oidc.params?.logout ||
        !session
      )
        return;
      const sids = new Map<string, string>();
      for (const clientId of Object.keys(session.authorizations ?? {})) {
        const sid = session.sidFor(clientId);
        if (sid) sids.set(clientId, sid);
      }
      // the session is gone already: a failure here leaves the clients' own sessions to run out by themselves
      await signOnEnded(sids).catch((err: unknown) =>
        log.error({ err }, 'could not end the sessions of a single sign-on session that was logged out'),
      );
    });
  }
  const { afterLogout } = deps;
  if (afterLogout) {
    provider.use(async (ctx, next) => {
      await next();
      const uid = (ctx.oidc?.session as { uid?: string } | undefined)?.uid;
      if (ctx.oidc?.route !== 'end_session_confirm' || ctx.status !== 303 || !ctx.oidc.params?.logout || !uid)
        return;
      const to = await afterLogout(uid, ctx.response.get('location'));
      if (to) {
        ctx.redirect(to);
        ctx.status = 303;
      }
    });
  }
  provider.on('authorization.error', (ctx, err) => {
    (ctx.state as { poortError?: string }).poortError = (err as { error?: string }).error;
  });
  provider.on('server_error', (_ctx, err) => log.error({ err }, 'oidc-provider server error'));
  provider.on('backchannel.error', (_ctx, err, client, _accountId, sid) =>
    log.warn(
      { err, event: 'logout.backchannel', outcome: 'failure', client: client.clientId, sid },
      'back-channel logout not delivered',
    ),
  );
  return provider;
}
