import crypto from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../store/database.js';
import type { UserTable } from '../store/schema.js';
import { isValidUsername, normaliseUsername, type Identity } from './identity.js';
import { isUniqueViolation } from '../store/unique.js';

export interface UserRecord {
  id: string;
  username: string;
  email: string;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  enabled: boolean;
  hasPassword: boolean;
  groups: string[];
  createdAt: string;
  updatedAt: string;
  /** ISO-8601: when the user was last signed out everywhere; null when never */
  sessionsNotBefore: string | null;
  /** ISO-8601: the user's last completed sign-in; null when never */
  lastSignInAt: string | null;
  /**
   * where the password is checked: here (`local`), by the LDAP server (`ldap`) or an upstream OpenID provider
   * (`upstream:<id>`), which then also own the name, the address and the groups
   */
  directory: UserDirectory;
}

/** Where a user's password is checked: here, by the LDAP server, or by an upstream OpenID provider (by its id). */
export type UserDirectory = 'local' | ExternalDirectory;
export type ExternalDirectory = 'ldap' | `upstream:${string}`;

function directoryOf(value: string): UserDirectory {
  return value === 'ldap' || value.startsWith('upstream:') ? (value as ExternalDirectory) : 'local';
}

/** What an external directory says of a user: copied into their row at each sign-in and sync. */
export interface ExternalProfile {
  externalId: string;
  username: string;
  email: string;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
}

export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(
    readonly code: 'invalid_username' | 'invalid_email' | 'exists' | 'not_found' | 'group_not_found',
    message: string,
  ) {
    super(message);
  }
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function isValidEmail(email: string): boolean {
  return EMAIL.test(email) && email.length <= 254;
}

function toRecord(row: UserTable, groups: string[]): UserRecord {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    name: row.name,
    givenName: row.given_name ?? null,
    familyName: row.family_name ?? null,
    enabled: row.enabled === 1,
    hasPassword: row.password_hash !== null,
    groups,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    sessionsNotBefore: row.sessions_not_before ?? null,
    lastSignInAt: row.last_signin_at ?? null,
    directory: directoryOf(row.directory),
  };
}

export function toIdentity(user: UserRecord): Identity {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    name: user.name,
    givenName: user.givenName,
    familyName: user.familyName,
    groups: user.groups,
    directory: user.directory,
    ...(user.sessionsNotBefore
      ? { sessionsNotBefore: Math.floor(Date.parse(user.sessionsNotBefore) / 1000) }
      : {}),
  };
}

/** A removed user, and what went with them. */
export interface RemovedUser {
  user: UserRecord;
  /** the kinds of their second factors, one entry per factor */
  factors: string[];
  /** the names of the managed devices registered to them */
  devices: string[];
}

/** Users and their group memberships in the durable store. */
export class UserRepository {
  constructor(private readonly db: Db) {}

  async create(input: {
    username: string;
    email: string;
    name?: string | null;
    givenName?: string | null;
    familyName?: string | null;
    passwordHash?: string | null;
  }): Promise<UserRecord> {
    const username = normaliseUsername(input.username);
    if (!isValidUsername(username)) {
      throw new UserError(
        'invalid_username',
        `"${input.username}" is not a valid username (letters, digits, . _ - @; at most 128)`,
      );
    }
    const email = input.email.trim();
    if (!EMAIL.test(email) || email.length > 254)
      throw new UserError('invalid_email', `"${input.email}" is not an e-mail address`);
    const now = new Date().toISOString();
    const row: UserTable = {
      id: crypto.randomUUID(),
      username,
      email,
      name: input.name?.trim() || null,
      given_name: input.givenName?.trim() || null,
      family_name: input.familyName?.trim() || null,
      password_hash: input.passwordHash ?? null,
      enabled: 1,
      created_at: now,
      updated_at: now,
      sessions_not_before: null,
      last_signin_at: null,
      directory: 'local',
      external_id: null,
    };
    try {
      await this.db.insertInto('users').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new UserError('exists', `user ${username} already exists`);
      throw err;
    }
    return toRecord(row, []);
  }

  /**
   * Adds the row of a user an external directory knows, under the id `id` (chosen beforehand, so that the audit
   * event naming it can be stored first). Throws UserError `exists` when the username is taken.
   */
  async createExternal(id: string, directory: UserDirectory, profile: ExternalProfile): Promise<UserRecord> {
    const now = new Date().toISOString();
    const row: UserTable = {
      id,
      username: profile.username,
      email: profile.email,
      name: profile.name,
      given_name: profile.givenName,
      family_name: profile.familyName,
      password_hash: null,
      enabled: 1,
      created_at: now,
      updated_at: now,
      sessions_not_before: null,
      last_signin_at: null,
      directory,
      external_id: profile.externalId,
    };
    try {
      await this.db.insertInto('users').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new UserError('exists', `user ${profile.username} already exists`);
      throw err;
    }
    return toRecord(row, []);
  }

  /** The user an external directory knows by `externalId`. */
  async findExternal(
    directory: UserDirectory,
    externalId: string,
  ): Promise<(UserRecord & { externalId: string }) | undefined> {
    const row = await this.db
      .selectFrom('users')
      .select('id')
      .where('directory', '=', directory)
      .where('external_id', '=', externalId)
      .executeTakeFirst();
    const user = row && (await this.findById(row.id));
    return user && { ...user, externalId };
  }

  /** Every user of an external directory, with the entry's id there. */
  async listExternal(directory: UserDirectory): Promise<(UserRecord & { externalId: string })[]> {
    const ids = new Map(
      (
        await this.db
          .selectFrom('users')
          .select(['id', 'external_id'])
          .where('directory', '=', directory)
          .execute()
      ).map((r) => [r.id, r.external_id ?? '']),
    );
    return (await this.list())
      .filter((u) => ids.has(u.id))
      .map((u) => ({ ...u, externalId: ids.get(u.id)! }));
  }

  /** Copies what the directory says into an existing row; the username may change (a renamed entry). */
  async applyProfile(userId: string, profile: ExternalProfile): Promise<void> {
    try {
      await this.db
        .updateTable('users')
        .set({
          username: profile.username,
          email: profile.email,
          name: profile.name,
          given_name: profile.givenName,
          family_name: profile.familyName,
          updated_at: new Date().toISOString(),
        })
        .where('id', '=', userId)
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new UserError('exists', `user ${profile.username} already exists`);
      throw err;
    }
  }

  /** The row with its password hash, for the first factor only. */
  async findCredentials(username: string): Promise<(UserTable & { groups: string[] }) | undefined> {
    return this.withGroups('username', normaliseUsername(username));
  }

  async findByUsername(username: string): Promise<UserRecord | undefined> {
    const found = await this.withGroups('username', normaliseUsername(username));
    return found && toRecord(found, found.groups);
  }

  /**
   * Users with this e-mail address, compared without regard to case; at most `limit` (enough to tell one from
   * several). Their groups are not read.
   */
  async findByEmail(email: string, limit: number): Promise<Omit<UserRecord, 'groups'>[]> {
    const rows = await this.db
      .selectFrom('users')
      .selectAll()
      .where(sql<string>`lower(email)`, '=', email.trim().toLowerCase())
      .orderBy('username')
      .limit(limit)
      .execute();
    return rows.map((row) => {
      const { groups: _none, ...user } = toRecord(row, []);
      return user;
    });
  }

  async findById(id: string): Promise<UserRecord | undefined> {
    const found = await this.withGroups('id', id);
    return found && toRecord(found, found.groups);
  }

  /**
   * A user's row and group names in one query (one round trip on PostgreSQL; a sign-in looks a user up several
   * times): a row per membership, folded here.
   */
  private async withGroups(
    column: 'id' | 'username',
    value: string,
  ): Promise<(UserTable & { groups: string[] }) | undefined> {
    const rows = await this.db
      .selectFrom('users')
      .leftJoin('memberships', 'memberships.user_id', 'users.id')
      .leftJoin('groups', 'groups.id', 'memberships.group_id')
      .selectAll('users')
      .select('groups.name as group_name')
      .where(`users.${column}`, '=', value)
      .orderBy('groups.name')
      .execute();
    const first = rows[0];
    if (!first) return undefined;
    const { group_name: _first, ...row } = first;
    const groups = rows.map((r) => r.group_name).filter((name): name is string => name !== null);
    return { ...row, groups };
  }

  async require(username: string): Promise<UserRecord> {
    const user = await this.findByUsername(username);
    if (!user) throw new UserError('not_found', `no user ${normaliseUsername(username)}`);
    return user;
  }

  async list(): Promise<UserRecord[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('username').execute();
    const memberships = await this.db
      .selectFrom('memberships')
      .innerJoin('groups', 'groups.id', 'memberships.group_id')
      .select(['memberships.user_id', 'groups.name'])
      .orderBy('groups.name')
      .execute();
    const byUser = new Map<string, string[]>();
    for (const m of memberships) byUser.set(m.user_id, [...(byUser.get(m.user_id) ?? []), m.name]);
    return rows.map((r) => toRecord(r, byUser.get(r.id) ?? []));
  }

  /** The ids the users have in the system that provisions them (SCIM's externalId: an HR employee number), by user. */
  async externalIds(userIds: readonly string[]): Promise<Map<string, string>> {
    if (userIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('users')
      .select(['id', 'external_id'])
      .where('id', 'in', [...userIds])
      .where('external_id', 'is not', null)
      .execute();
    return new Map(rows.map((r) => [r.id, r.external_id!]));
  }

  /** Sets or clears the id a provisioning system (SCIM) gives a local user. Throws UserError `exists` when taken. */
  async setExternalId(userId: string, externalId: string | null): Promise<void> {
    try {
      await this.db
        .updateTable('users')
        .set({ external_id: externalId, updated_at: new Date().toISOString() })
        .where('id', '=', userId)
        .execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw new UserError('exists', `the externalId ${externalId} belongs to another user`);
      throw err;
    }
  }

  /** Local users by username, a page of them, with the total (SCIM lists). Their groups are read. */
  async listLocal(offset: number, limit: number): Promise<{ total: number; users: UserRecord[] }> {
    const count = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('directory', '=', 'local')
      .executeTakeFirst();
    const rows = await this.db
      .selectFrom('users')
      .select('id')
      .where('directory', '=', 'local')
      .orderBy('username')
      .offset(offset)
      .limit(limit)
      .execute();
    const users = await Promise.all(rows.map((r) => this.findById(r.id)));
    return { total: Number(count?.n ?? 0), users: users.filter((u): u is UserRecord => u !== undefined) };
  }

  /**
   * Users whose username, e-mail address or name contains `text` (without regard to case), by username; at most
   * `limit`. Their groups are not read.
   */
  async search(text: string, limit: number): Promise<Omit<UserRecord, 'groups'>[]> {
    const pattern = `%${text
      .trim()
      .toLowerCase()
      .replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const like = (column: 'username' | 'email' | 'name') =>
      sql<boolean>`lower(coalesce(${sql.ref(column)}, '')) like ${pattern} escape '\\'`;
    const rows = await this.db
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb.or([like('username'), like('email'), like('name')]))
      .orderBy('username')
      .limit(limit)
      .execute();
    return rows.map((row) => {
      const { groups: _none, ...user } = toRecord(row, []);
      return user;
    });
  }

  async groupsOf(userId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('memberships')
      .innerJoin('groups', 'groups.id', 'memberships.group_id')
      .select('groups.name')
      .where('memberships.user_id', '=', userId)
      .orderBy('groups.name')
      .execute();
    return rows.map((r) => r.name);
  }

  async setEnabled(username: string, enabled: boolean): Promise<UserRecord> {
    const user = await this.require(username);
    await this.db
      .updateTable('users')
      .set({ enabled: enabled ? 1 : 0, updated_at: new Date().toISOString() })
      .where('id', '=', user.id)
      .execute();
    return { ...user, enabled };
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ password_hash: passwordHash, updated_at: new Date().toISOString() })
      .where('id', '=', userId)
      .execute();
  }

  /** Notes a completed sign-in (`poort user list` shows it; dormant accounts are found by it). */
  async recordSignIn(userId: string, at: Date = new Date()): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ last_signin_at: at.toISOString() })
      .where('id', '=', userId)
      .execute();
  }

  /**
   * Enabled users who have not signed in since `cutoff`: their last sign-in is older, or they never signed in and
   * were added before it (someone added since has had less time). Oldest activity first.
   */
  async inactiveSince(cutoff: Date): Promise<UserRecord[]> {
    const before = cutoff.toISOString();
    const inactive = (await this.list()).filter((u) => u.enabled && (u.lastSignInAt ?? u.createdAt) < before);
    return inactive.sort((a, b) =>
      (a.lastSignInAt ?? a.createdAt).localeCompare(b.lastSignInAt ?? b.createdAt),
    );
  }

  /**
   * Signs a user out everywhere: single sign-on sessions, refresh and access tokens from sign-ins until `at` no
   * longer count (the provider checks them against it), so the next sign-in asks for the password again. Sign-in
   * times are whole seconds (auth_time), so the cut is at the start of the next second, which this returns: wait
   * for it (signInsCountAgain) before telling anyone, or a sign-in in the same second would end with the others.
   */
  async endSessions(userId: string, at: Date = new Date()): Promise<Date> {
    const cut = new Date(Math.floor(at.getTime() / 1000) * 1000 + 1000);
    await this.db
      .updateTable('users')
      .set({ sessions_not_before: cut.toISOString() })
      .where('id', '=', userId)
      .execute();
    return cut;
  }

  /**
   * Removes a user for good. What is theirs alone goes with them (the store cascades): group memberships, second
   * factors, recovery and enrolment codes, and the managed devices registered to them, so that a leaver's device
   * no longer counts as managed. The audit trail keeps their history. Returns what went, for the record.
   */
  async remove(username: string): Promise<RemovedUser> {
    const user = await this.require(username);
    const factors = await this.db
      .selectFrom('factors')
      .select(['kind'])
      .where('user_id', '=', user.id)
      .execute();
    const devices = await this.db
      .selectFrom('devices')
      .select(['name'])
      .where('owner_id', '=', user.id)
      .orderBy('name')
      .execute();
    await this.db.deleteFrom('users').where('id', '=', user.id).execute();
    return { user, factors: factors.map((f) => f.kind).sort(), devices: devices.map((d) => d.name) };
  }

  async update(
    username: string,
    changes: { email?: string; name?: string | null; givenName?: string | null; familyName?: string | null },
  ): Promise<UserRecord> {
    const user = await this.require(username);
    const set: Partial<UserTable> = { updated_at: new Date().toISOString() };
    if (changes.email !== undefined) {
      if (!EMAIL.test(changes.email.trim()))
        throw new UserError('invalid_email', `"${changes.email}" is not an e-mail address`);
      set.email = changes.email.trim();
    }
    if (changes.name !== undefined) set.name = changes.name?.trim() || null;
    if (changes.givenName !== undefined) set.given_name = changes.givenName?.trim() || null;
    if (changes.familyName !== undefined) set.family_name = changes.familyName?.trim() || null;
    await this.db.updateTable('users').set(set).where('id', '=', user.id).execute();
    return (await this.findById(user.id))!;
  }
}
