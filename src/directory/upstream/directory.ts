import type { AuditLog } from '../../audit/log.js';
import type { Logger } from '../../log/logger.js';
import { ExternalAccounts } from '../external-accounts.js';
import type { GroupRepository } from '../groups.js';
import type { AttemptSource, AuthenticationResult, Identity } from '../identity.js';
import { toIdentity, type UserRepository } from '../users.js';
import { UpstreamClient, type PendingChecks, type UpstreamAnswer } from './client.js';
import type { UpstreamProviderConfig } from './config.js';
import { isClaimProblem, upstreamProfile } from './profile.js';

/** The path at Poort that a provider sends the browser back to; register <issuer><path> there. */
export function upstreamCallbackPath(providerId: string): string {
  return `/signin/upstream/${providerId}/callback`;
}

/** Where a provider sends the browser back after signing it out (`sign_out`); register <issuer><path> there. */
export function upstreamSignedOutPath(providerId: string): string {
  return `/signin/upstream/${providerId}/signed-out`;
}

interface Provider {
  config: UpstreamProviderConfig;
  client: UpstreamClient;
  accounts: ExternalAccounts;
}

/** What the sign-in makes of a provider's answer: a user, or why not. */
export type UpstreamResult =
  | Exclude<AuthenticationResult, { ok: true }>
  /** `mfa`: the provider's sign-in was multi-factor, and the provider is trusted for it (`trust_mfa`) */
  | { ok: true; identity: Identity; mfa: boolean }
  /** the provider said no, or its answer did not hold up (`failure`: `access_denied`, `invalid_response`, …) */
  | { ok: false; code: 'upstream_failed'; failure: string; userId?: string };

/**
 * The upstream OpenID providers as a directory: users sign in there, and Poort keeps a user for each (directory
 * `upstream:<id>`, keyed by the provider's stable id claim) whose name, address and groups follow the provider's
 * claims at every sign-in.
 */
export class UpstreamDirectory {
  readonly #providers = new Map<string, Provider>();
  readonly #log: Logger;
  readonly #issuer: string;

  constructor(
    configs: UpstreamProviderConfig[],
    issuer: string,
    deps: { users: UserRepository; groups: GroupRepository; audit: AuditLog; log: Logger },
  ) {
    this.#log = deps.log;
    this.#issuer = issuer.replace(/\/$/, '');
    for (const config of configs) {
      this.#providers.set(config.id, {
        config,
        client: new UpstreamClient(config, `${issuer.replace(/\/$/, '')}${upstreamCallbackPath(config.id)}`),
        accounts: new ExternalAccounts({
          directory: `upstream:${config.id}`,
          users: deps.users,
          groups: deps.groups,
          audit: deps.audit,
          log: deps.log,
          createMissingGroups: config.create_missing_groups,
        }),
      });
    }
  }

  /** The providers offered on the sign-in page, in the order configured. */
  list(): { id: string; name: string }[] {
    return [...this.#providers.values()].map((p) => ({ id: p.config.id, name: p.config.name }));
  }

  has(id: string): boolean {
    return this.#providers.has(id);
  }

  /** Whether signing out of Poort signs out at this provider too (`sign_out`). */
  signsOut(id: string): boolean {
    return this.#providers.get(id)?.config.sign_out ?? false;
  }

  /** Whether any provider signs out with Poort. */
  anySignsOut(): boolean {
    return [...this.#providers.values()].some((p) => p.config.sign_out);
  }

  /** Where to send the browser to sign out at the provider; throws UpstreamUnavailableError where it cannot. */
  endSessionUrl(id: string, idTokenHint: string, state: string): Promise<URL> {
    const provider = this.provider(id);
    return provider.client.endSessionUrl({
      idTokenHint,
      postLogoutRedirectUri: `${this.#issuer}${upstreamSignedOutPath(id)}`,
      state,
    });
  }

  /** The provider whose `domains` hold the domain of a typed name that is an e-mail address, if any. */
  providerForUsername(username: string): string | undefined {
    const at = username.trim().lastIndexOf('@');
    if (at < 1) return undefined;
    const domain = username
      .trim()
      .slice(at + 1)
      .toLowerCase();
    for (const p of this.#providers.values()) if (p.config.domains.includes(domain)) return p.config.id;
    return undefined;
  }

  /** Where to send the browser; throws UpstreamUnavailableError when the provider cannot be discovered. */
  authorizationUrl(id: string, checks: PendingChecks, extra: Record<string, string>): Promise<URL> {
    return this.provider(id).client.authorizationUrl(checks, extra);
  }

  /** The provider's answer at the callback; throws UpstreamUnavailableError when the provider does not answer. */
  answer(id: string, query: URLSearchParams, checks: PendingChecks): Promise<UpstreamAnswer> {
    return this.provider(id).client.complete(query, checks);
  }

  /** Makes or updates the user the claims describe, for a sign-in. */
  async complete(id: string, answer: UpstreamAnswer, ctx: AttemptSource): Promise<UpstreamResult> {
    if (!answer.ok) {
      if (answer.reason === 'invalid_response') {
        this.#log.warn(
          { provider: id, detail: answer.detail },
          'an upstream provider’s answer did not hold up',
        );
      }
      return {
        ok: false,
        code: 'upstream_failed',
        failure: answer.reason === 'refused' ? answer.error : answer.reason,
      };
    }
    const provider = this.provider(id);
    const found = upstreamProfile(answer.claims, provider.config.claims);
    if (isClaimProblem(found)) {
      this.#log.warn({ provider: id, ...found }, 'an upstream provider’s claims cannot make a Poort user');
      return { ok: false, code: 'invalid_credentials', reason: 'directory_conflict' };
    }
    if (found.groups === null) {
      this.#log.warn(
        { provider: id, claim: provider.config.claims.groups },
        'an upstream provider left the groups out of its answer (too many for a token): the user keeps the groups ' +
          'Poort had. At Entra ID, have the application registration emit only the groups assigned to it',
      );
    }
    const account = await provider.accounts.upsert(found.profile, found.groups, ctx, {
      issuer: provider.config.issuer,
    });
    if (!account.ok) return { ok: false, code: 'invalid_credentials', reason: 'directory_conflict' };
    if (!account.user.enabled)
      return { ok: false, code: 'invalid_credentials', reason: 'disabled', userId: account.user.id };
    const amr = answer.claims.amr;
    const mfa = provider.config.trust_mfa && Array.isArray(amr) && amr.includes('mfa');
    return { ok: true, identity: toIdentity(account.user), mfa };
  }

  private provider(id: string): Provider {
    const provider = this.#providers.get(id);
    if (!provider) throw new Error(`no upstream provider ${id}`);
    return provider;
  }
}
