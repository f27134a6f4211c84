import { z } from 'zod';
import { normaliseUsername } from '../../directory/identity.js';
import { listed, type Condition } from './condition.js';
import { list } from './parts.js';

/** `users: [alice, bob]`: usernames (compared as usernames are, case-insensitively) or user ids. */
export const usersSchema = list(z.string().min(1, 'expected a username'));
export type UsersSpec = z.infer<typeof usersSchema>;

export function compileUsers(spec: UsersSpec): Condition {
  const names = new Set(spec.map(normaliseUsername));
  const ids = new Set(spec);
  const text = listed(spec);
  return {
    holds: (e) => names.has(e.ctx.user.username) || ids.has(e.ctx.user.id),
    explain: (e, held) => `user ${e.ctx.user.username} is ${held ? '' : 'not '}one of ${text}`,
  };
}
