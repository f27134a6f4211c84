import type { Command } from 'commander';
import { GroupRepository } from '../../directory/groups.js';
import { withServices } from '../context.js';
import { list, print, printJson, printTable } from '../io.js';
import { recorded, subject } from '../record.js';

export function registerGroupCommands(program: Command): void {
  const group = program
    .command('group')
    .description('manage groups (sent to applications in the "groups" claim)');

  group
    .command('add')
    .description('add a group')
    .argument('<name>', 'letters, digits, space . _ : - (at most 128)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const created = await recorded(services, async (db) => {
          const group = await new GroupRepository(db).create(name);
          return {
            result: group,
            changes: [{ action: 'group.changed', details: { group: group.name, change: 'created' } }],
          };
        });
        print(`Added group ${created.name}`);
      });
    });

  group
    .command('add-member')
    .description('add a user to a group')
    .argument('<group>')
    .argument('<username>')
    .action(async (groupName: string, username: string, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const found = await services.groups.require(groupName);
        const user = await services.users.require(username);
        if (found.members.includes(user.username)) {
          print(`${user.username} is already a member of ${found.name}`);
          return;
        }
        await recorded(services, async (db) => {
          await new GroupRepository(db).addMember(found.name, user.id);
          return {
            result: undefined,
            changes: [
              {
                action: 'group.changed',
                subject: subject(user),
                details: { group: found.name, change: 'member_added' },
              },
            ],
          };
        });
        print(`Added ${user.username} to ${found.name}`);
      });
    });

  group
    .command('remove-member')
    .description('remove a user from a group')
    .argument('<group>')
    .argument('<username>')
    .action(async (groupName: string, username: string, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const found = await services.groups.require(groupName);
        const user = await services.users.require(username);
        if (!found.members.includes(user.username)) {
          print(`${user.username} is not a member of ${found.name}`);
          return;
        }
        await recorded(services, async (db) => {
          await new GroupRepository(db).removeMember(found.name, user.id);
          return {
            result: undefined,
            changes: [
              {
                action: 'group.changed',
                subject: subject(user),
                details: { group: found.name, change: 'member_removed' },
              },
            ],
          };
        });
        print(`Removed ${user.username} from ${found.name}`);
      });
    });

  group
    .command('list')
    .description('list groups and their members')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const groups = await services.groups.list();
        if (opts.json) return printJson(groups);
        printTable(
          ['NAME', 'MEMBERS'],
          groups.map((g) => [g.name, list(g.members)]),
          'No groups. Add one with "poort group add".',
        );
      });
    });
}
