import type { AuditLog } from '../../audit/log.js';
import type { UserRepository } from '../users.js';
import { changedFields, type ExternalAccounts } from '../external-accounts.js';
import type { ProfileProblem } from './entry.js';
import type { LdapGateway } from './gateway.js';

export interface SyncReport {
  /** user entries the directory returned */
  entries: number;
  /** Poort's LDAP users looked at */
  checked: number;
  /** users whose name, address or groups were brought in line (or would be, on a dry run) */
  updated: string[];
  /** users disabled in Poort, and signed out everywhere, because their entry is gone or disabled */
  disabled: { username: string; reason: 'directory_removed' | 'directory_disabled' }[];
  /** users whose entry's new name belongs to someone else: left as they were */
  conflicts: string[];
  /** entries that cannot be Poort users (no id, unusable name or address) */
  unusable: { dn: string; problem: ProfileProblem['problem']; attribute: string }[];
}

/** The sync refused to act on what the directory answered. */
export class SyncRefusedError extends Error {
  override readonly name = 'SyncRefusedError';
}

/**
 * Checks the users Poort knows from LDAP against the directory, so that a leaver loses access when the directory
 * says so, not at their next sign-in: a user whose entry is gone (or, in Active Directory, disabled) is disabled in
 * Poort and signed out everywhere; the others get the entry's name, address and groups. Users are only ever made at
 * their first sign-in. A disabled user stays disabled when the entry comes back: `poort user enable` decides.
 */
export class LdapSync {
  constructor(
    private readonly gateway: LdapGateway,
    private readonly accounts: ExternalAccounts,
    private readonly users: UserRepository,
    private readonly audit: AuditLog,
  ) {}

  async run(options: { dryRun?: boolean } = {}): Promise<SyncReport> {
    const { profiles, unusable } = await this.gateway.allUsers();
    const known = await this.users.listExternal('ldap');
    const report: SyncReport = {
      entries: profiles.length,
      checked: known.length,
      updated: [],
      disabled: [],
      conflicts: [],
      unusable: unusable.map((u) => ({
        dn: u.dn,
        problem: u.problem.problem,
        attribute: u.problem.attribute,
      })),
    };
    // A wrong base DN or filter (or a service account that may no longer read) looks like everyone having left.
    if (profiles.length === 0 && known.some((u) => u.enabled)) {
      throw new SyncRefusedError(
        'the directory returned no usable user entries (check ldap.users.base_dn and filter, and what the service ' +
          `account may read): not disabling the ${known.filter((u) => u.enabled).length} users Poort knows from it`,
      );
    }
    const byId = new Map(profiles.map((p) => [p.externalId, p]));
    const knownIds = new Set(known.map((u) => u.externalId));
    const present = profiles.filter((p) => knownIds.has(p.externalId));
    const groups = await this.gateway.groupsOfAll(present);
    for (const user of known) {
      if (!user.enabled) continue;
      const profile = byId.get(user.externalId);
      if (!profile || profile.disabled) {
        const reason = profile ? 'directory_disabled' : 'directory_removed';
        report.disabled.push({ username: user.username, reason });
        if (options.dryRun) continue;
        await this.audit.append({
          action: 'user.disabled',
          outcome: 'success',
          actor: { type: 'system', name: 'ldap' },
          subject: { id: user.id, username: user.username },
          details: { reason, directory: 'ldap', signed_out_everywhere: true },
        });
        await this.users.setEnabled(user.username, false);
        await this.users.endSessions(user.id);
        continue;
      }
      const wanted = groups.get(profile.externalId) ?? [];
      if (options.dryRun) {
        const sameGroups =
          wanted.length === user.groups.length && wanted.every((g) => user.groups.includes(g));
        if (changedFields(user, profile).length > 0 || !sameGroups) report.updated.push(profile.username);
        continue;
      }
      const outcome = await this.accounts.upsert(profile, wanted);
      if (!outcome.ok) report.conflicts.push(user.username);
      else if (outcome.changed) report.updated.push(outcome.user.username);
    }
    return report;
  }
}
