import type { Logger } from '../../log/logger.js';
import type { AttemptSource, AuthenticationResult } from '../identity.js';
import type { PasswordHasher } from '../password-hash.js';
import { toIdentity, type UserRepository } from '../users.js';
import type { ExternalAccounts } from '../external-accounts.js';
import { DirectoryUnavailableError, type LdapGateway, type PasswordCheck } from './gateway.js';

/**
 * Passwords checked by the LDAP server or Active Directory. Each attempt also costs one argon2id verification, run
 * beside the directory's answer: local users pay it too, so the time of an answer tells neither local users from
 * directory users nor either from names that exist nowhere.
 */
export class LdapDirectory {
  constructor(
    private readonly gateway: LdapGateway,
    private readonly accounts: ExternalAccounts,
    private readonly users: UserRepository,
    private readonly hasher: PasswordHasher,
    private readonly log: Logger,
  ) {}

  async authenticate(username: string, password: string, ctx?: AttemptSource): Promise<AuthenticationResult> {
    const [check] = await Promise.all([
      this.gateway
        .checkPassword(username, password)
        .catch((err: unknown) => (err instanceof DirectoryUnavailableError ? err : Promise.reject(err))),
      this.hasher.verifyDummy(password),
    ]);
    if (check instanceof DirectoryUnavailableError) {
      this.log.error(
        { err: check },
        'the LDAP directory cannot be asked: password sign-ins of its users fail',
      );
      const known = await this.users.findByUsername(username);
      return { ok: false, code: 'directory_unavailable', ...(known ? { userId: known.id } : {}) };
    }
    return this.result(check, ctx);
  }

  private async result(check: PasswordCheck, ctx?: AttemptSource): Promise<AuthenticationResult> {
    const failed = (
      reason: 'unknown_user' | 'directory_conflict',
      userId?: string,
    ): AuthenticationResult => ({
      ok: false,
      code: 'invalid_credentials',
      reason,
      ...(userId ? { userId } : {}),
    });
    switch (check.kind) {
      case 'unknown':
        return failed('unknown_user');
      case 'ambiguous':
        this.log.warn(
          'a username matches several LDAP entries: none of them can sign in (check users.filter)',
        );
        return failed('unknown_user');
      case 'unusable':
        this.log.warn(
          { dn: check.dn, problem: check.problem.problem, attribute: check.problem.attribute },
          'an LDAP entry lacks what a Poort user needs: it cannot sign in',
        );
        return failed('directory_conflict');
      case 'failed': {
        const known = await this.users.findExternal('ldap', check.profile.externalId);
        return {
          ok: false,
          code: 'invalid_credentials',
          reason: check.reason,
          ...(known ? { userId: known.id } : {}),
        };
      }
      case 'ok': {
        const account = await this.accounts.upsert(check.profile, check.groups, ctx, {
          dn: check.profile.dn,
        });
        if (!account.ok) return failed('directory_conflict');
        // Poort's own "disabled" (by an administrator, or by the sync when the entry went) wins over the directory
        if (!account.user.enabled)
          return { ok: false, code: 'invalid_credentials', reason: 'disabled', userId: account.user.id };
        return { ok: true, identity: toIdentity(account.user) };
      }
    }
  }
}
