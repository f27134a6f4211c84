import type { Command } from 'commander';
import { GroupRepository } from '../../directory/groups.js';
import { groupRemovalRefusal } from '../../policy/group-references.js';
import { CliError, requireLocalUser, withServices } from '../context.js';
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

  for (const [name, adding] of [
    ['add-member', true],
    ['remove-member', false],
  ] as const) {
    group
      .command(name)
      .description(adding ? 'add a user to a group' : 'remove a user from a group')
      .argument('<group>')
      .argument('<username>')
      .action(async (groupName: string, username: string, _opts: unknown, cmd: Command) => {
        await withServices(cmd, async (services) => {
          const found = await services.groups.require(groupName);
          const user = await services.users.require(username);
          requireLocalUser(user, 'groups');
          if (found.members.includes(user.username) === adding) {
            print(`${user.username} ${adding ? 'is already' : 'is not'} a member of ${found.name}`);
            return;
          }
          await recorded(services, async (db) => {
            const groups = new GroupRepository(db);
            await (adding ? groups.addMember(found.name, user.id) : groups.removeMember(found.name, user.id));
            return {
              result: undefined,
              changes: [
                {
                  action: 'group.changed',
                  subject: subject(user),
                  details: { group: found.name, change: adding ? 'member_added' : 'member_removed' },
                },
              ],
            };
          });
          print(
            adding
              ? `Added ${user.username} to ${found.name}`
              : `Removed ${user.username} from ${found.name}`,
          );
        });
      });
  }

  group
    .command('remove')
    .description(
      'remove a group; its members stay, without it (the "groups" claim and policies no longer see it)',
    )
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const refusal = await groupRemovalRefusal(services, name.trim());
        if (refusal) throw new CliError(refusal);
        const removed = await recorded(services, async (db) => {
          const group = await new GroupRepository(db).remove(name);
          return {
            result: group,
            changes: [
              {
                action: 'group.changed',
                details: { group: group.name, change: 'removed', members: group.members },
              },
            ],
          };
        });
        print(
          `Removed group ${removed.name}; it had ${removed.members.length} member(s): ${list(removed.members)}`,
        );
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
