import type { AdminConfig } from './config.js';

/** The administrative roles, each a set of duties; membership comes from groups (`admin.roles`). */
export const ADMIN_ROLES = ['helpdesk', 'security_officer', 'auditor'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

/** What the console lets a role do. */
export type Permission = 'users.read' | 'users.manage' | 'policy.read' | 'policy.write' | 'audit.read';

const GRANTS: Record<AdminRole, readonly Permission[]> = {
  // helps people sign in again: looks up accounts, sends reset links, signs out, disables, clears lost factors
  helpdesk: ['users.read', 'users.manage'],
  // writes the sign-in policy and investigates what it decided
  security_officer: ['policy.read', 'policy.write', 'audit.read'],
  // reads everything, changes nothing
  auditor: ['users.read', 'policy.read', 'audit.read'],
};

/**
 * Duties one person must not hold together (ISO 27001 A.5.3, segregation of duties): whoever resets credentials does
 * not also decide when they are asked for, and an auditor audits nobody's work but others'.
 */
const CONFLICTS: ReadonlyArray<readonly [AdminRole, AdminRole]> = [
  ['helpdesk', 'security_officer'],
  ['auditor', 'helpdesk'],
  ['auditor', 'security_officer'],
];

/** The roles a member of `groups` holds, in the order of ADMIN_ROLES. */
export function rolesOf(groups: readonly string[], roles: AdminConfig['roles']): AdminRole[] {
  const member = new Set(groups);
  return ADMIN_ROLES.filter((role) => roles[role].some((group) => member.has(group)));
}

/** The settings that decide who holds a role: the role groups, and whose membership of them counts. */
export type RoleSettings = Pick<AdminConfig, 'roles' | 'role_directories'>;

/** Whether a user of `directory` (`local`, `ldap`, `upstream:<id>`) may hold roles (`admin.role_directories`). */
export function directoryGrantsRoles(directory: string | undefined, trusted: readonly string[]): boolean {
  const d = directory ?? 'local';
  return trusted.includes(d) || (d.startsWith('upstream:') && trusted.includes('upstream'));
}

/** The roles a user holds: their groups', where their directory may grant roles. */
export function rolesOfUser(
  user: { groups: readonly string[]; directory?: string },
  settings: RoleSettings,
): AdminRole[] {
  return directoryGrantsRoles(user.directory, settings.role_directories)
    ? rolesOf(user.groups, settings.roles)
    : [];
}

export function permissionsOf(roles: readonly AdminRole[]): Set<Permission> {
  return new Set(roles.flatMap((role) => GRANTS[role]));
}

/** The pairs of `roles` that must be kept apart. */
export function conflictsOf(roles: readonly AdminRole[]): Array<readonly [AdminRole, AdminRole]> {
  return CONFLICTS.filter(([a, b]) => roles.includes(a) && roles.includes(b));
}

export type AccessRefusal = 'no_role' | 'conflicting_roles';

/** Whether a person with these roles may use the console at all. */
export function consoleAccess(
  roles: readonly AdminRole[],
  separateDuties: boolean,
): { ok: true } | { ok: false; reason: AccessRefusal } {
  if (roles.length === 0) return { ok: false, reason: 'no_role' };
  if (separateDuties && conflictsOf(roles).length > 0) return { ok: false, reason: 'conflicting_roles' };
  return { ok: true };
}

export type ManageRefusal = 'own_account' | 'privileged_user';

/**
 * Whether the helpdesk may change this account. Not one's own (self-service is the account page, where the
 * password and second factor are asked again), and not that of anyone holding an administrative role: a reset link
 * or a cleared factor would otherwise let the helpdesk take over a security officer's account and its rights.
 */
export function mayManage(
  actorId: string,
  target: { id: string; groups: readonly string[]; directory?: string },
  settings: RoleSettings,
): { ok: true } | { ok: false; reason: ManageRefusal } {
  if (target.id === actorId) return { ok: false, reason: 'own_account' };
  if (rolesOfUser(target, settings).length > 0) return { ok: false, reason: 'privileged_user' };
  return { ok: true };
}

/** Someone who holds an administrative role, for an access review. */
export interface RoleHolder<U> {
  user: U;
  roles: AdminRole[];
  /** pairs of their roles that must be kept apart; the console refuses them while separate_duties holds */
  conflicts: Array<readonly [AdminRole, AdminRole]>;
}

/** Who holds which role, of `users`, in their order. */
export function roleHolders<U extends { groups: readonly string[]; directory?: string }>(
  users: readonly U[],
  settings: RoleSettings,
): RoleHolder<U>[] {
  return users.flatMap((user) => {
    const held = rolesOfUser(user, settings);
    return held.length > 0 ? [{ user, roles: held, conflicts: conflictsOf(held) }] : [];
  });
}
