import type { Command } from 'commander';
import { roleHolders } from '../../admin/roles.js';
import { withServices } from '../context.js';
import { print, printJson, printTable } from '../io.js';

export function registerAdminCommands(program: Command): void {
  const admin = program.command('admin').description('the administration console (/admin) and its roles');

  admin
    .command('roles')
    .description(
      'list who holds an administrative role, through which groups, and whose roles must be kept apart (an access review)',
    )
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const { roles, separate_duties, enabled, role_directories } = services.config.admin;
        const holders = roleHolders(await services.users.list(), services.config.admin);
        if (opts.json)
          return printJson({
            enabled,
            separate_duties,
            roles,
            role_directories,
            holders: holders.map((h) => ({
              username: h.user.username,
              id: h.user.id,
              directory: h.user.directory,
              enabled: h.user.enabled,
              last_signin_at: h.user.lastSignInAt,
              roles: h.roles,
              conflicts: h.conflicts,
            })),
          });
        if (!enabled) print('The console is switched off (admin.enabled: false); these roles open nothing.');
        printTable(
          ['ROLE', 'GROUPS'],
          Object.entries(roles).map(([role, groups]) => [role, groups.join(', ') || '(none)']),
          '',
        );
        print(`Membership counts for users of: ${role_directories.join(', ')} (admin.role_directories)`);
        print();
        printTable(
          ['USERNAME', 'ROLES', 'DIRECTORY', 'ENABLED', 'LAST SIGN-IN', 'CONFLICT'],
          holders.map((h) => [
            h.user.username,
            h.roles.join(', '),
            h.user.directory,
            h.user.enabled ? 'yes' : 'no',
            h.user.lastSignInAt ?? 'never',
            h.conflicts.length === 0
              ? ''
              : `${h.conflicts.map((c) => c.join(' + ')).join('; ')}${separate_duties ? ' (refused)' : ''}`,
          ]),
          'Nobody holds an administrative role.',
        );
      });
    });
}
