import type { Command } from 'commander';
import { pino } from 'pino';
import { GroupRepository } from '../../directory/groups.js';
import { normaliseUsername } from '../../directory/identity.js';
import {
  checkPassword,
  describeViolation,
  type PasswordPolicy,
  type PasswordViolation,
} from '../../directory/password-policy.js';
import { UserError, UserRepository, type UserRecord } from '../../directory/users.js';
import { resetLinkSender } from '../../account/password-reset-message.js';
import {
  requestPasswordReset,
  ResetNotSent,
  type RequestedReset,
} from '../../account/password-reset-request.js';
import { PasswordResets } from '../../account/password-reset.js';
import { errorMessage, type MessageSender } from '../../notify/sender.js';
import { signInsCountAgain } from '../../oidc/signed-out.js';
import {
  CliError,
  commaList,
  durationArgument,
  lifetimeOption,
  requireLocalUser,
  usageError,
  withServices,
} from '../context.js';
import { list, print, printFields, printJson, printTable, readSecret, yesNo } from '../io.js';
import { record, recorded, subject, type Change } from '../record.js';

/** The longest a reset link may work: it stands in for the user's password until used. */
const MAX_RESET_LINK_SECONDS = 30 * 86400;

/** A password the policy refused; the message lists every violation. */
class PasswordRefused extends CliError {
  constructor(
    username: string,
    readonly violations: PasswordViolation[],
  ) {
    super(
      [
        `the password for ${username} was refused:`,
        ...violations.map((v) => `  - ${describeViolation(v)}`),
      ].join('\n'),
    );
  }
}

/** Reads a password from stdin and checks it against the policy; every violation is reported. */
async function readPassword(
  user: { username: string; email: string },
  policy: PasswordPolicy,
): Promise<string> {
  const password = await readSecret('password', { confirm: true });
  const violations = checkPassword(password, user, policy);
  if (violations.length > 0) throw new PasswordRefused(user.username, violations);
  return password;
}

/** Where a user's password is: set here, missing, or an external directory's. */
function passwordState(user: UserRecord, none: string): string {
  if (user.directory === 'ldap') return 'in LDAP';
  if (user.directory !== 'local') return `at ${user.directory.slice('upstream:'.length)}`;
  return user.hasPassword ? 'set' : none;
}

/** After giving a disabled user a password (or a way to choose one): how they may use it. */
function printIfDisabled(user: UserRecord): void {
  if (!user.enabled)
    print(`${user.username} is disabled; "poort user enable ${user.username}" lets them sign in`);
}

function showUser(user: UserRecord): void {
  printFields([
    ['username', user.username],
    ['id', user.id],
    ['email', user.email],
    ['name', user.name ?? '-'],
    ['given name', user.givenName ?? '-'],
    ['family name', user.familyName ?? '-'],
    ['enabled', yesNo(user.enabled)],
    ['directory', user.directory],
    ['password', passwordState(user, 'not set (cannot sign in)')],
    ['groups', list(user.groups)],
    ['created', user.createdAt],
    ['updated', user.updatedAt],
    ['signed out everywhere', user.sessionsNotBefore ?? '-'],
    ['last sign-in', user.lastSignInAt ?? 'never'],
  ]);
}

/** How long without a sign-in makes an account dormant: a day at least (a typo must not disable everyone). */
const inactivePeriod = durationArgument({
  min: 86400,
  max: 100 * 365 * 86400,
  example: 'a period such as 90d',
});

/** Whole days since `iso`, for people reading a list. */
function daysSince(iso: string, now: number): number {
  return Math.floor((now - Date.parse(iso)) / 86400_000);
}

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('manage local users');

  user
    .command('add')
    .description(
      'add a user; without --password-stdin the user cannot sign in until "poort user set-password"',
    )
    .argument('<username>', 'letters, digits, . _ - @ (compared case-insensitively)')
    .requiredOption('--email <email>', 'e-mail address')
    .option('--name <name>', 'display name')
    .option('--given-name <name>', 'given name (released to SAML service providers as asked)')
    .option('--family-name <name>', 'family name')
    .option(
      '--groups <groups>',
      'comma-separated groups to add the user to; missing groups are created',
      commaList,
    )
    .option('--password-stdin', 'read the password from the first line of standard input')
    .action(
      async (
        username: string,
        opts: {
          email: string;
          name?: string;
          givenName?: string;
          familyName?: string;
          groups?: string[];
          passwordStdin?: boolean;
        },
        cmd: Command,
      ) => {
        await withServices(cmd, async (services) => {
          const normalised = normaliseUsername(username);
          if (await services.users.findByUsername(normalised))
            throw new UserError('exists', `user ${normalised} already exists`);
          let passwordHash: string | null = null;
          if (opts.passwordStdin) {
            const password = await readPassword(
              { username: normalised, email: opts.email },
              services.config.passwords.policy,
            );
            passwordHash = await services.hasher.hash(password);
          }
          const createdGroups: string[] = [];
          const created = await recorded(services, async (db) => {
            const users = new UserRepository(db);
            const groups = new GroupRepository(db);
            const user = await users.create({
              username,
              email: opts.email,
              name: opts.name,
              givenName: opts.givenName,
              familyName: opts.familyName,
              passwordHash,
            });
            const changes: Change[] = [
              {
                action: 'user.created',
                subject: subject(user),
                details: { password_set: passwordHash !== null, groups: opts.groups ?? [] },
              },
            ];
            for (const name of opts.groups ?? []) {
              let group = await groups.find(name);
              if (!group) {
                group = await groups.create(name);
                createdGroups.push(group.name);
                changes.push({ action: 'group.changed', details: { group: group.name, change: 'created' } });
              }
              await groups.addMember(group.name, user.id);
              changes.push({
                action: 'group.changed',
                subject: subject(user),
                details: { group: group.name, change: 'member_added' },
              });
            }
            return { result: user, changes };
          });
          for (const name of createdGroups) print(`Created group ${name}`);
          print(`Added user ${created.username} (id ${created.id})`);
          if ((opts.groups ?? []).length > 0) print(`Groups: ${(opts.groups ?? []).join(', ')}`);
          if (!passwordHash) {
            print(`${created.username} has no password and cannot sign in until you run:`);
            print(`  poort user set-password ${created.username} --password-stdin`);
          }
        });
      },
    );

  user
    .command('list')
    .description('list users, with their last sign-in')
    .option(
      '--inactive <period>',
      'only enabled users without a sign-in for this long (never signed in: added before it), e.g. 90d',
      inactivePeriod,
    )
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean; inactive?: number }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const users =
          opts.inactive === undefined
            ? await services.users.list()
            : await services.users.inactiveSince(new Date(Date.now() - opts.inactive * 1000));
        if (opts.json) return printJson(users);
        printTable(
          ['USERNAME', 'EMAIL', 'NAME', 'ENABLED', 'PASSWORD', 'GROUPS', 'LAST SIGN-IN'],
          users.map((u) => [
            u.username,
            u.email,
            u.name ?? '-',
            yesNo(u.enabled),
            passwordState(u, 'not set'),
            list(u.groups),
            u.lastSignInAt ?? 'never',
          ]),
          opts.inactive === undefined
            ? 'No users. Add one with "poort user add".'
            : 'No enabled user has been without a sign-in that long.',
        );
      });
    });

  user
    .command('disable-inactive')
    .description(
      'disable every enabled user without a sign-in for <period> (dormant accounts; never signed in: added before it), e.g. 90d',
    )
    .argument('<period>', 'e.g. 90d', inactivePeriod)
    .option('--dry-run', 'list who would be disabled, and change nothing')
    .option('--json', 'print JSON: the users disabled (or that would be)')
    .action(async (period: number, opts: { dryRun?: boolean; json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const now = Date.now();
        const cutoff = new Date(now - period * 1000);
        // found and disabled in one transaction: someone who signs in meanwhile is not caught
        const dormant = opts.dryRun
          ? await services.users.inactiveSince(cutoff)
          : await recorded(services, async (db) => {
              const users = new UserRepository(db);
              const found = await users.inactiveSince(cutoff);
              for (const u of found) await users.setEnabled(u.username, false);
              return {
                result: found,
                changes: found.map((u) => ({
                  action: 'user.disabled' as const,
                  subject: subject(u),
                  details: {
                    reason: 'inactive',
                    inactive_days: daysSince(u.lastSignInAt ?? u.createdAt, now),
                    last_signin_at: u.lastSignInAt,
                  },
                })),
              };
            });
        if (opts.json) return printJson(dormant.map((u) => ({ ...u, enabled: !!opts.dryRun })));
        if (dormant.length === 0) return print('No enabled user has been without a sign-in that long.');
        printTable(
          ['USERNAME', 'EMAIL', 'LAST SIGN-IN', 'DAYS'],
          dormant.map((u) => [
            u.username,
            u.email,
            u.lastSignInAt ?? `never (added ${u.createdAt.slice(0, 10)})`,
            String(daysSince(u.lastSignInAt ?? u.createdAt, now)),
          ]),
          '',
        );
        print(
          opts.dryRun
            ? `Would disable ${dormant.length} user${dormant.length === 1 ? '' : 's'}; nothing was changed (--dry-run).`
            : `Disabled ${dormant.length} user${dormant.length === 1 ? '' : 's'}; "poort user enable <username>" lets one sign in again.`,
        );
      });
    });

  user
    .command('show')
    .description('show one user (never the password hash)')
    .argument('<username>')
    .option('--json', 'print JSON')
    .action(async (username: string, opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const user = await services.users.require(username);
        if (opts.json) printJson(user);
        else showUser(user);
      });
    });

  for (const [name, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    user
      .command(name)
      .description(
        enabled
          ? 'allow a disabled user to sign in again'
          : 'stop a user from signing in (the account is kept)',
      )
      .argument('<username>')
      .action(async (username: string, _opts: unknown, cmd: Command) => {
        await withServices(cmd, async (services) => {
          const before = await services.users.require(username);
          if (before.enabled === enabled) {
            print(`User ${before.username} was already ${enabled ? 'enabled' : 'disabled'}`);
            return;
          }
          await recorded(services, async (db) => {
            const after = await new UserRepository(db).setEnabled(username, enabled);
            return {
              result: after,
              changes: [{ action: enabled ? 'user.enabled' : 'user.disabled', subject: subject(after) }],
            };
          });
          print(`${enabled ? 'Enabled' : 'Disabled'} user ${before.username}`);
        });
      });
  }

  user
    .command('set-password')
    .description('set or replace the password of a user')
    .argument('<username>')
    .requiredOption('--password-stdin', 'read the password from the first line of standard input')
    .option(
      '--sign-out',
      'also sign the user out everywhere: sessions and tokens from earlier sign-ins stop working (a leaked password)',
    )
    .action(async (username: string, opts: { signOut?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const user = await services.users.require(username);
        requireLocalUser(user, 'password');
        let password: string;
        try {
          password = await readPassword(user, services.config.passwords.policy);
        } catch (err) {
          if (err instanceof PasswordRefused) {
            await record(services, {
              action: 'password.changed',
              outcome: 'denied',
              reason: 'password_policy',
              subject: subject(user),
              details: { violations: err.violations.map((v) => v.code) },
            });
          }
          throw err;
        }
        const hash = await services.hasher.hash(password);
        const cut = await recorded(services, async (db) => {
          const users = new UserRepository(db);
          await users.setPasswordHash(user.id, hash);
          const ended = opts.signOut ? await users.endSessions(user.id) : undefined;
          return {
            result: ended,
            changes: [
              {
                action: 'password.changed',
                subject: subject(user),
                ...(ended ? { details: { signed_out_everywhere: true } } : {}),
              },
            ],
          };
        });
        if (cut) await signInsCountAgain(cut);
        print(
          `Set the password of ${user.username}${cut ? ' and signed them out everywhere: sessions and tokens from earlier sign-ins no longer work' : ''}`,
        );
        printIfDisabled(user);
      });
    });

  user
    .command('reset-password')
    .description(
      'e-mail a user a link to choose a new password (working once; it replaces earlier links), or print it with --print-link',
    )
    .argument('<username>')
    .option(
      '--expires <lifetime>',
      'how long the link works: 30m, 24h, 7d (at most 30d; default passwords.reset.link_lifetime)',
      lifetimeOption(MAX_RESET_LINK_SECONDS),
    )
    .option('--print-link', 'print the link to hand it over yourself, instead of e-mailing it')
    .action(async (username: string, opts: { expires?: number; printLink?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const { config } = services;
        const user = await services.users.require(username);
        requireLocalUser(user, 'password');
        const log = pino({ level: 'warn', base: { service: 'poort' } }, pino.destination(2));
        let sender: MessageSender | undefined;
        if (!opts.printLink) {
          try {
            sender = resetLinkSender(config, log);
          } catch (err) {
            throw new CliError(`${services.configFile}: ${errorMessage(err)}`);
          }
          if (!sender)
            throw new CliError(
              'no e-mail sender is configured (passwords.reset.email or mfa.otp.email): give --print-link to hand ' +
                'the link over yourself',
            );
        }
        let reset: RequestedReset;
        try {
          reset = await requestPasswordReset(
            {
              resets: new PasswordResets(services.kv, services.hasher),
              sender,
              record: (event) => record(services, event),
              issuer: config.server.issuer,
              message: {
                language: config.organisation.default_language,
                organisation: config.organisation.name,
              },
            },
            user,
            opts.expires ?? config.passwords.reset.link_lifetime,
          );
        } catch (err) {
          if (err instanceof ResetNotSent) throw new CliError(err.message);
          throw err;
        }
        if (reset.delivery === 'email')
          print(`Sent ${user.username} a link to choose a new password, to ${user.email}.`);
        else {
          print(
            `Link for ${user.username} to choose a new password; hand it over in person or another trusted way:`,
          );
          print(`  ${reset.link}`);
        }
        print(
          `It works once, until ${reset.expiresAt}; the current password keeps working until a new one is chosen.`,
        );
        if (reset.withdrew) print('The earlier link no longer works.');
        printIfDisabled(user);
      });
    });

  user
    .command('sign-out')
    .description(
      'sign a user out everywhere: their sessions and tokens from sign-ins until now stop working (a lost device, a leaked password)',
    )
    .argument('<username>')
    .action(async (username: string, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const user = await services.users.require(username);
        const cut = await recorded(services, async (db) => {
          const result = await new UserRepository(db).endSessions(user.id);
          return {
            result,
            changes: [{ action: 'logout', subject: subject(user), details: { everywhere: true } }],
          };
        });
        await signInsCountAgain(cut);
        print(
          `Signed ${user.username} out everywhere: sessions, refresh and access tokens from earlier sign-ins no longer work.`,
        );
      });
    });

  user
    .command('remove')
    .description(
      'remove a user for good (a leaver): with their second factors, group memberships, managed devices and reset link; their audit history stays',
    )
    .argument('<username>')
    .action(async (username: string, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const removed = await recorded(services, async (db) => {
          const result = await new UserRepository(db).remove(username);
          return {
            result,
            changes: [
              {
                action: 'user.removed',
                subject: subject(result.user),
                details: {
                  groups: result.user.groups,
                  factors: result.factors,
                  devices: result.devices,
                },
              },
            ],
          };
        });
        // Their sessions and tokens stop working with the account (no account is found for them); a reset link
        // would find no one either, but should not outlive the user in the store.
        await new PasswordResets(services.kv, services.hasher).withdrawFor(removed.user.id);
        const { user: gone, factors, devices } = removed;
        print(`Removed user ${gone.username} (id ${gone.id})`);
        print(`  groups left: ${list(gone.groups)}`);
        print(`  second factors removed: ${list(factors)}`);
        print(`  managed devices removed: ${list(devices)}`);
        print('Their sessions and tokens no longer work; the audit trail keeps their history.');
      });
    });

  user
    .command('update')
    .description('change the e-mail address, display name, given name or family name of a user')
    .argument('<username>')
    .option('--email <email>', 'new e-mail address')
    .option('--name <name>', 'new display name ("" removes it)')
    .option('--given-name <name>', 'new given name ("" removes it)')
    .option('--family-name <name>', 'new family name ("" removes it)')
    .action(
      async (
        username: string,
        opts: { email?: string; name?: string; givenName?: string; familyName?: string },
        cmd: Command,
      ) => {
        if (
          opts.email === undefined &&
          opts.name === undefined &&
          opts.givenName === undefined &&
          opts.familyName === undefined
        )
          usageError(cmd, 'nothing to change: give --email, --name, --given-name and/or --family-name');
        await withServices(cmd, async (services) => {
          requireLocalUser(await services.users.require(username), 'profile');
          const fields = [
            ...(opts.email !== undefined ? ['email'] : []),
            ...(opts.name !== undefined ? ['name'] : []),
            ...(opts.givenName !== undefined ? ['given_name'] : []),
            ...(opts.familyName !== undefined ? ['family_name'] : []),
          ];
          const updated = await recorded(services, async (db) => {
            const user = await new UserRepository(db).update(username, {
              email: opts.email,
              name: opts.name,
              givenName: opts.givenName,
              familyName: opts.familyName,
            });
            return {
              result: user,
              changes: [{ action: 'user.updated', subject: subject(user), details: { fields } }],
            };
          });
          print(`Updated user ${updated.username}`);
          showUser(updated);
        });
      },
    );
}
