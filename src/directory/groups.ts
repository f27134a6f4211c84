import crypto from 'node:crypto';
import type { Db } from '../store/database.js';
import { UserError } from './users.js';
import { isUniqueViolation } from '../store/unique.js';

export interface GroupRecord {
  id: string;
  name: string;
  members: string[];
  createdAt: string;
}

const GROUP_NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._:-]{0,127}$/u;

export function isValidGroupName(name: string): boolean {
  return GROUP_NAME.test(name);
}

export class GroupRepository {
  constructor(private readonly db: Db) {}

  async create(name: string): Promise<GroupRecord> {
    const clean = name.trim();
    if (!GROUP_NAME.test(clean))
      throw new UserError('group_not_found', `"${name}" is not a valid group name`);
    const row = { id: crypto.randomUUID(), name: clean, created_at: new Date().toISOString() };
    try {
      await this.db.insertInto('groups').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new UserError('exists', `group ${clean} already exists`);
      throw err;
    }
    return { id: row.id, name: row.name, members: [], createdAt: row.created_at };
  }

  async find(name: string): Promise<GroupRecord | undefined> {
    const row = await this.db
      .selectFrom('groups')
      .selectAll()
      .where('name', '=', name.trim())
      .executeTakeFirst();
    if (!row) return undefined;
    const members = await this.db
      .selectFrom('memberships')
      .innerJoin('users', 'users.id', 'memberships.user_id')
      .select('users.username')
      .where('memberships.group_id', '=', row.id)
      .orderBy('users.username')
      .execute();
    return { id: row.id, name: row.name, members: members.map((m) => m.username), createdAt: row.created_at };
  }

  /** A group by its id, with its members' ids and usernames (SCIM refers to both by id). */
  async findById(
    id: string,
  ): Promise<(GroupRecord & { memberIds: Array<{ id: string; username: string }> }) | undefined> {
    const row = await this.db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const members = await this.db
      .selectFrom('memberships')
      .innerJoin('users', 'users.id', 'memberships.user_id')
      .select(['users.id', 'users.username'])
      .where('memberships.group_id', '=', row.id)
      .orderBy('users.username')
      .execute();
    return {
      id: row.id,
      name: row.name,
      createdAt: row.created_at,
      members: members.map((m) => m.username),
      memberIds: members,
    };
  }

  async require(name: string): Promise<GroupRecord> {
    const group = await this.find(name);
    if (!group) throw new UserError('group_not_found', `no group ${name.trim()}`);
    return group;
  }

  async list(): Promise<GroupRecord[]> {
    const groups = await this.db.selectFrom('groups').selectAll().orderBy('name').execute();
    const members = await this.db
      .selectFrom('memberships')
      .innerJoin('users', 'users.id', 'memberships.user_id')
      .select(['memberships.group_id', 'users.username'])
      .orderBy('users.username')
      .execute();
    const byGroup = new Map<string, string[]>();
    for (const m of members) {
      const list = byGroup.get(m.group_id);
      if (list) list.push(m.username);
      else byGroup.set(m.group_id, [m.username]);
    }
    return groups.map((g) => ({
      id: g.id,
      name: g.name,
      createdAt: g.created_at,
      members: byGroup.get(g.id) ?? [],
    }));
  }

  /**
   * Groups without their members, by name, or those named `name` or with id `id` only (exactly, as a SCIM filter
   * compares): what a search needs before it knows whether members are wanted at all.
   */
  async summaries(only: { name?: string; id?: string } = {}): Promise<Array<Omit<GroupRecord, 'members'>>> {
    let query = this.db.selectFrom('groups').select(['id', 'name', 'created_at']).orderBy('name');
    if (only.name !== undefined) query = query.where('name', '=', only.name);
    if (only.id !== undefined) query = query.where('id', '=', only.id);
    const rows = await query.execute();
    return rows.map((g) => ({ id: g.id, name: g.name, createdAt: g.created_at }));
  }

  /** Removes a group and its memberships (the users stay); returns it as it was, with its members. */
  async remove(name: string): Promise<GroupRecord> {
    const group = await this.require(name);
    await this.db.deleteFrom('groups').where('id', '=', group.id).execute();
    return group;
  }

  /** Adds a user to a group; adding a member twice is not an error. */
  async addMember(groupName: string, userId: string): Promise<void> {
    const group = await this.require(groupName);
    await this.db
      .insertInto('memberships')
      .values({ user_id: userId, group_id: group.id })
      .onConflict((oc) => oc.columns(['user_id', 'group_id']).doNothing())
      .execute();
  }

  async removeMember(groupName: string, userId: string): Promise<void> {
    const group = await this.require(groupName);
    await this.db
      .deleteFrom('memberships')
      .where('user_id', '=', userId)
      .where('group_id', '=', group.id)
      .execute();
  }
}
