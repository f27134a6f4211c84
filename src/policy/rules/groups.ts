import { z } from 'zod';
import { listed, type Condition } from './condition.js';
import { list } from './parts.js';

/** `groups: [admins, finance]`: the user is a member of at least one of them. */
export const groupsSchema = list(z.string().min(1, 'expected a group name'));
export type GroupsSpec = z.infer<typeof groupsSchema>;

export function compileGroups(spec: GroupsSpec): Condition {
  const groups = new Set(spec);
  const text = listed(spec);
  const member = (userGroups: readonly string[]) => userGroups.find((g) => groups.has(g));
  return {
    holds: (e) => {
      for (const g of e.ctx.user.groups) if (groups.has(g)) return true;
      return false;
    },
    explain: (e) => {
      const found = member(e.ctx.user.groups);
      return found
        ? `user ${e.ctx.user.username} is in group ${found}`
        : `user ${e.ctx.user.username} is in none of ${text}`;
    },
  };
}
