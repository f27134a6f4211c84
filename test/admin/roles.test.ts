import { describe, expect, it } from 'vitest';
import { adminConfigSchema } from '../../src/admin/config.js';
import {
  conflictsOf,
  consoleAccess,
  directoryGrantsRoles,
  mayManage,
  permissionsOf,
  roleHolders,
  rolesOf,
  rolesOfUser,
} from '../../src/admin/roles.js';

const settings = adminConfigSchema.parse({});
const { roles } = settings;

describe('administrative roles', () => {
  it('come from groups: the default groups, or those configured, several groups per role', () => {
    expect(rolesOf(['staff'], roles)).toEqual([]);
    expect(rolesOf(['poort-helpdesk', 'staff'], roles)).toEqual(['helpdesk']);
    expect(rolesOf(['poort-auditors', 'poort-security-officers'], roles)).toEqual([
      'security_officer',
      'auditor',
    ]);
    const own = adminConfigSchema.parse({ roles: { helpdesk: ['ict', 'servicedesk'], auditor: [] } }).roles;
    expect(rolesOf(['servicedesk'], own)).toEqual(['helpdesk']);
    expect(rolesOf(['poort-helpdesk', 'poort-auditors'], own)).toEqual([]);
    expect(rolesOf(['poort-security-officers'], own)).toEqual(['security_officer']);
  });

  it('grant each role its own duties only', () => {
    expect([...permissionsOf(['helpdesk'])].sort()).toEqual(['users.manage', 'users.read']);
    expect([...permissionsOf(['security_officer'])].sort()).toEqual([
      'audit.read',
      'policy.read',
      'policy.write',
    ]);
    expect([...permissionsOf(['auditor'])].sort()).toEqual(['audit.read', 'policy.read', 'users.read']);
    expect(permissionsOf([]).size).toBe(0);
  });

  it('keep apart who resets credentials, who writes the policy and who audits them (A.5.3)', () => {
    expect(conflictsOf(['helpdesk', 'security_officer'])).toHaveLength(1);
    expect(conflictsOf(['auditor', 'helpdesk'])).toHaveLength(1);
    expect(conflictsOf(['security_officer', 'auditor'])).toHaveLength(1);
    expect(conflictsOf(['helpdesk', 'security_officer', 'auditor'])).toHaveLength(3);
    expect(consoleAccess([], true)).toEqual({ ok: false, reason: 'no_role' });
    expect(consoleAccess(['helpdesk'], true)).toEqual({ ok: true });
    expect(consoleAccess(['helpdesk', 'security_officer'], true)).toEqual({
      ok: false,
      reason: 'conflicting_roles',
    });
    // a small organisation where one person does both may say so
    expect(consoleAccess(['helpdesk', 'security_officer'], false)).toEqual({ ok: true });
  });

  it('let the helpdesk change neither its own account nor that of anyone with a role', () => {
    expect(mayManage('h', { id: 'u', groups: ['staff'] }, settings)).toEqual({ ok: true });
    expect(mayManage('h', { id: 'h', groups: ['poort-helpdesk'] }, settings)).toEqual({
      ok: false,
      reason: 'own_account',
    });
    for (const group of ['poort-helpdesk', 'poort-security-officers', 'poort-auditors'])
      expect(mayManage('h', { id: 'u', groups: [group] }, settings)).toEqual({
        ok: false,
        reason: 'privileged_user',
      });
  });

  it('count role groups only for users of the directories admin.role_directories trusts', () => {
    const trusted = (role_directories: string[]) => ({ roles, role_directories });
    const helpdesk = (directory: string) => ({ id: directory, groups: ['poort-helpdesk'], directory });
    const all = trusted(['local', 'ldap', 'upstream']);
    for (const d of ['local', 'ldap', 'upstream:entra'])
      expect(rolesOfUser(helpdesk(d), all)).toEqual(['helpdesk']);
    const onlyLocal = trusted(['local']);
    expect(rolesOfUser(helpdesk('local'), onlyLocal)).toEqual(['helpdesk']);
    expect(rolesOfUser(helpdesk('ldap'), onlyLocal)).toEqual([]);
    expect(rolesOfUser(helpdesk('upstream:entra'), onlyLocal)).toEqual([]);
    // one provider, not another
    const entra = trusted(['local', 'upstream:entra']);
    expect(rolesOfUser(helpdesk('upstream:entra'), entra)).toEqual(['helpdesk']);
    expect(rolesOfUser(helpdesk('upstream:google'), entra)).toEqual([]);
    expect(directoryGrantsRoles(undefined, ['local'])).toBe(true);
    // an untrusted directory's "role" is no role: the helpdesk may help that person, and no access review lists them
    expect(mayManage('h', helpdesk('upstream:entra'), onlyLocal)).toEqual({ ok: true });
    expect(roleHolders([helpdesk('local'), helpdesk('ldap')], onlyLocal).map((h) => h.user.id)).toEqual([
      'local',
    ]);
  });
});
