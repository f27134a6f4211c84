import crypto from 'node:crypto';
import type { AuditEventInput } from '../../audit/event.js';
import type { AuditLog } from '../../audit/log.js';
import type { Logger } from '../../log/logger.js';
import { isValidGroupName, type GroupRepository } from '../groups.js';
import { UserError, type UserRecord, type UserRepository } from '../users.js';
import type { DirectoryProfile } from './entry.js';

/** The fields of a user's row that differ from the directory's entry. */
export function changedFields(user: UserRecord, profile: DirectoryProfile): string[] {
  return (
    [
      ['username', user.username, profile.username],
      ['email', user.email, profile.email],
      ['name', user.name, profile.name],
      ['given_name', user.givenName, profile.givenName],
      ['family_name', user.familyName, profile.familyName],
    ] as const
  )
    .filter(([, was, is]) => was !== is)
    .map(([field]) => field);
}

/** The trail's actor for what the directory changed: nobody at Poort did it. */
const ACTOR = { type: 'system', name: 'ldap' } as const;

export type AccountOutcome =
  | { ok: true; user: UserRecord; changed: boolean }
  /** the entry's username belongs to a local user, or to another entry's row: the entry cannot sign in */
  | { ok: false; conflict: true; holder: UserRecord };

type Context = Pick<AuditEventInput, 'source' | 'application' | 'correlation'>;

/**
 * The rows of LDAP users in Poort's store: made at a user's first sign-in, brought in line with the entry at each
 * later one and at each sync. The directory owns the name, the address and the groups; Poort adds the second
 * factors, sessions and history. Every change is recorded in the trail (actor `system` "ldap") before it is made.
 */
export class LdapAccounts {
  constructor(
    private readonly deps: {
      users: UserRepository;
      groups: GroupRepository;
      audit: AuditLog;
      log: Logger;
      createMissingGroups: boolean;
    },
  ) {}

  async upsert(profile: DirectoryProfile, groups: string[], ctx: Context = {}): Promise<AccountOutcome> {
    const { users, audit } = this.deps;
    const event = (input: Omit<AuditEventInput, 'actor' | 'outcome'>): Promise<unknown> =>
      audit.append({ outcome: 'success', actor: ACTOR, ...ctx, ...input });
    let user: UserRecord | undefined = await users.findExternal('ldap', profile.externalId);
    let changed = false;
    if (!user) {
      const holder = await users.findByUsername(profile.username);
      if (holder) return this.conflict(profile, holder);
      const id = crypto.randomUUID();
      await event({
        action: 'user.created',
        subject: { id, username: profile.username },
        details: { directory: 'ldap', dn: profile.dn, groups },
      });
      try {
        user = await users.createExternal(id, 'ldap', profile);
      } catch (err) {
        if (!(err instanceof UserError && err.code === 'exists')) throw err;
        // another node made the row for the same first sign-in a moment ago
        user = await users.findExternal('ldap', profile.externalId);
        if (!user) return this.conflict(profile, (await users.findByUsername(profile.username))!);
      }
      changed = true;
    } else {
      const fields = changedFields(user, profile);
      if (fields.length > 0) {
        if (fields.includes('username')) {
          const holder = await users.findByUsername(profile.username);
          if (holder && holder.id !== user.id) return this.conflict(profile, holder);
        }
        await event({
          action: 'user.updated',
          subject: { id: user.id, username: profile.username },
          details: {
            directory: 'ldap',
            changed: fields,
            ...(fields.includes('username') ? { previous_username: user.username } : {}),
          },
        });
        await users.applyProfile(user.id, profile);
        changed = true;
      }
    }
    changed = (await this.setGroups(user, profile.username, groups, event)) || changed;
    return { ok: true, user: (await users.findById(user.id))!, changed };
  }

  /** Makes the user's groups those of the directory; returns whether any changed. */
  private async setGroups(
    user: UserRecord,
    username: string,
    names: string[],
    event: (input: Omit<AuditEventInput, 'actor' | 'outcome'>) => Promise<unknown>,
  ): Promise<boolean> {
    const { groups, log } = this.deps;
    const wanted = new Set<string>();
    for (const name of names) {
      if (isValidGroupName(name)) wanted.add(name);
      else log.warn({ group: name }, 'an LDAP group name is not a valid Poort group name: it is left out');
    }
    const subject = { id: user.id, username };
    let changed = false;
    for (const name of [...wanted].sort()) {
      if (user.groups.includes(name)) continue;
      if (!(await groups.find(name))) {
        if (!this.deps.createMissingGroups) continue;
        await event({ action: 'group.changed', details: { group: name, change: 'created', via: 'ldap' } });
        await groups.create(name).catch((err: unknown) => {
          // another node made it meanwhile
          if (!(err instanceof UserError && err.code === 'exists')) throw err;
        });
      }
      await event({
        action: 'group.changed',
        subject,
        details: { group: name, change: 'member_added', via: 'ldap' },
      });
      await groups.addMember(name, user.id);
      changed = true;
    }
    for (const name of user.groups) {
      if (wanted.has(name)) continue;
      await event({
        action: 'group.changed',
        subject,
        details: { group: name, change: 'member_removed', via: 'ldap' },
      });
      await groups.removeMember(name, user.id);
      changed = true;
    }
    return changed;
  }

  private conflict(profile: DirectoryProfile, holder: UserRecord): AccountOutcome {
    this.deps.log.warn(
      { dn: profile.dn, username: profile.username, holder: holder.id, holderDirectory: holder.directory },
      'an LDAP entry has the username of another Poort user: it cannot sign in until one of them is renamed or removed',
    );
    return { ok: false, conflict: true, holder };
  }
}
