import crypto from 'node:crypto';
import type { AuditEventInput } from '../audit/event.js';
import type { AuditLog } from '../audit/log.js';
import type { Logger } from '../log/logger.js';
import { isValidGroupName, type GroupRepository } from './groups.js';
import type { AttemptSource } from './identity.js';
import {
  UserError,
  type ExternalDirectory,
  type ExternalProfile,
  type UserRecord,
  type UserRepository,
} from './users.js';

/** The fields of a user's row that differ from the directory's entry. */
export function changedFields(user: UserRecord, profile: ExternalProfile): string[] {
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

export type AccountOutcome =
  | { ok: true; user: UserRecord; changed: boolean }
  /** the entry's username belongs to a local user, or to another entry's row: the entry cannot sign in */
  | { ok: false; conflict: true; holder: UserRecord };

/**
 * The rows of an external directory's users in Poort's store (the LDAP server's, an upstream OpenID provider's):
 * made at a user's first sign-in, brought in line with the directory at each later one (and, for LDAP, at each
 * sync). The directory owns the name, the address and the groups; Poort adds the second factors, sessions and
 * history. Every change is recorded in the trail (actor `system`, named after the directory) before it is made.
 */
export class ExternalAccounts {
  readonly #actor: AuditEventInput['actor'];

  constructor(
    private readonly deps: {
      directory: ExternalDirectory;
      users: UserRepository;
      groups: GroupRepository;
      audit: AuditLog;
      log: Logger;
      createMissingGroups: boolean;
    },
  ) {
    this.#actor = { type: 'system', name: deps.directory };
  }

  /**
   * Makes or updates the user `profile` describes, with exactly `groups`. `about` adds facts to the event of a new
   * user (the entry's DN, the upstream issuer).
   */
  async upsert(
    profile: ExternalProfile,
    /** null: the directory did not say; the user's groups stay as they are */
    groups: string[] | null,
    ctx: AttemptSource = {},
    about: Record<string, unknown> = {},
  ): Promise<AccountOutcome> {
    const { users, audit, directory } = this.deps;
    const event = (input: Omit<AuditEventInput, 'actor' | 'outcome'>): Promise<unknown> =>
      audit.append({ outcome: 'success', actor: this.#actor, ...ctx, ...input });
    let user: UserRecord | undefined = await users.findExternal(directory, profile.externalId);
    let changed = false;
    if (!user) {
      const holder = await users.findByUsername(profile.username);
      if (holder) return this.conflict(profile, holder);
      const id = crypto.randomUUID();
      await event({
        action: 'user.created',
        subject: { id, username: profile.username },
        details: { directory, ...about, groups: groups ?? [] },
      });
      try {
        user = await users.createExternal(id, directory, profile);
      } catch (err) {
        if (!(err instanceof UserError && err.code === 'exists')) throw err;
        // another node made the row for the same first sign-in a moment ago
        user = await users.findExternal(directory, profile.externalId);
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
            directory,
            changed: fields,
            ...(fields.includes('username') ? { previous_username: user.username } : {}),
          },
        });
        await users.applyProfile(user.id, profile);
        changed = true;
      }
    }
    if (groups !== null) changed = (await this.setGroups(user, profile.username, groups, event)) || changed;
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
      else
        log.warn(
          { group: name, directory: this.deps.directory },
          'a group name from the directory is not a valid Poort group name: it is left out',
        );
    }
    const subject = { id: user.id, username };
    let changed = false;
    for (const name of [...wanted].sort()) {
      if (user.groups.includes(name)) continue;
      if (!(await groups.find(name))) {
        if (!this.deps.createMissingGroups) continue;
        await event({
          action: 'group.changed',
          details: { group: name, change: 'created', via: this.deps.directory },
        });
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
        details: { group: name, change: 'member_removed', via: this.deps.directory },
      });
      await groups.removeMember(name, user.id);
      changed = true;
    }
    return changed;
  }

  private conflict(profile: ExternalProfile, holder: UserRecord): AccountOutcome {
    this.deps.log.warn(
      {
        directory: this.deps.directory,
        externalId: profile.externalId,
        username: profile.username,
        holder: holder.id,
        holderDirectory: holder.directory,
      },
      'a directory user has the username of another Poort user: they cannot sign in until one of them is renamed or removed',
    );
    return { ok: false, conflict: true, holder };
  }
}
