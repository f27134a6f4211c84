import type { Command } from 'commander';
import { DirectoryUnavailableError } from '../../directory/ldap/gateway.js';
import type { LdapServices } from '../../directory/ldap/services.js';
import { SyncRefusedError } from '../../directory/ldap/sync.js';
import type { Services } from '../../server/services.js';
import { CliError, withServices } from '../context.js';
import { print, printJson, printTable } from '../io.js';

function ldapOf(services: Services): LdapServices {
  if (!services.ldap)
    throw new CliError(
      `${services.configFile}: no LDAP directory is configured (an ldap section with enabled: true)`,
    );
  return services.ldap;
}

/** The directory's refusals and silences as the operator's error, with what to check. */
async function asking<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof DirectoryUnavailableError || err instanceof SyncRefusedError)
      throw new CliError(err.message);
    throw err;
  }
}

export function registerLdapCommands(program: Command): void {
  const ldap = program.command('ldap').description('the LDAP server or Active Directory whose users sign in');

  ldap
    .command('check')
    .description('connect, bind the service account and count the user entries the filter admits')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const { gateway, settings } = ldapOf(services);
        const server = await asking(() => gateway.check());
        const { profiles, unusable } = await asking(() => gateway.allUsers());
        const result = {
          server,
          bound_as: settings.bindDn ?? null,
          base_dn: settings.users.baseDn,
          filter: settings.users.filter,
          users: profiles.length,
          unusable: unusable.map((u) => ({
            dn: u.dn,
            problem: u.problem.problem,
            attribute: u.problem.attribute,
          })),
        };
        if (opts.json) return printJson(result);
        print(`${server} answered; bound as ${settings.bindDn ?? '(anonymous)'}`);
        print(
          `${profiles.length} user entr${profiles.length === 1 ? 'y' : 'ies'} under ${settings.users.baseDn} match ${settings.users.filter}`,
        );
        if (unusable.length > 0) {
          print(`${unusable.length} cannot sign in:`);
          printTable(
            ['DN', 'PROBLEM', 'ATTRIBUTE'],
            result.unusable.map((u) => [u.dn, u.problem, u.attribute]),
            '',
          );
        }
      });
    });

  ldap
    .command('sync')
    .description(
      "check Poort's LDAP users against the directory: disable (and sign out) those gone or disabled there, update the others",
    )
    .option('--dry-run', 'say what would change, and change nothing')
    .option('--json', 'print JSON')
    .action(async (opts: { dryRun?: boolean; json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const report = await asking(() => ldapOf(services).sync.run({ dryRun: opts.dryRun }));
        if (opts.json) return printJson({ ...report, dry_run: Boolean(opts.dryRun) });
        const would = opts.dryRun ? 'Would disable' : 'Disabled';
        for (const d of report.disabled) {
          print(
            `${would} ${d.username}: ${d.reason === 'directory_removed' ? 'no longer in the directory' : 'disabled in the directory'}`,
          );
        }
        for (const u of report.updated) print(`${opts.dryRun ? 'Would update' : 'Updated'} ${u}`);
        for (const c of report.conflicts)
          print(`Left ${c} as it was: its new username belongs to another user`);
        print(
          `${report.checked} LDAP user${report.checked === 1 ? '' : 's'} checked against ${report.entries} entr${report.entries === 1 ? 'y' : 'ies'}; ` +
            `${report.disabled.length} ${opts.dryRun ? 'to disable' : 'disabled'}, ${report.updated.length} ${opts.dryRun ? 'to update' : 'updated'}` +
            (opts.dryRun ? '; nothing was changed (--dry-run).' : '.'),
        );
      });
    });
}
