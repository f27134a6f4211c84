#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { packageRoot } from '../paths.js';
import { registerAdminCommands } from './commands/admin.js';
import { registerScimCommands } from './commands/scim.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerClientCommands } from './commands/client.js';
import { registerDeviceCommands } from './commands/device.js';
import { registerGroupCommands } from './commands/group.js';
import { registerInitCommand } from './commands/init.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerLdapCommands } from './commands/ldap.js';
import { registerMfaCommands } from './commands/mfa.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerPolicyCommands } from './commands/policy.js';
import { registerSpCommands } from './commands/sp.js';
import { registerUserCommands } from './commands/user.js';
import { CliError, USAGE_EXIT_CODE } from './context.js';

// Keys, databases and configuration files the CLI writes are for its own user only.
process.umask(0o077);

// A reader that stops early (`poort user list | head -1`) ends the CLI quietly, not with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}

function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** The `poort` program; settings made here before the commands are added are inherited by every subcommand. */
function buildProgram(): Command {
  const program = new Command('poort')
    .description(
      'Administer Poort: users, groups, OpenID Connect clients, SAML service providers, signing keys and the audit trail',
    )
    .version(packageVersion(), '-V, --version', 'print the version')
    .option(
      '-c, --config <file>',
      'configuration file (default: $POORT_CONFIG, else ./poort.yaml, else the shipped defaults)',
    )
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, 'poort: ')) })
    .addHelpText(
      'after',
      '\nChanges reach a running server without a restart. Exit status: 0 success, 1 failure, 2 wrong usage.',
    );
  registerInitCommand(program);
  registerUserCommands(program);
  registerGroupCommands(program);
  registerLdapCommands(program);
  registerAdminCommands(program);
  registerScimCommands(program);
  registerClientCommands(program);
  registerSpCommands(program);
  registerKeysCommands(program);
  registerAuditCommands(program);
  registerMfaCommands(program);
  registerPolicyCommands(program);
  registerDeviceCommands(program);
  registerMigrateCommand(program);
  return program;
}

/** A key id: the base64url SHA-256 thumbprint of the key (43 characters), which may start with "-". */
const KID = /^-[A-Za-z0-9_-]{42}$/;

/**
 * `poort keys retire -Xyz…` would read a kid that starts with "-" as options; move such a kid behind "--" so it
 * works as printed by `poort keys list`. No option of Poort looks like a kid.
 */
function protectKids(argv: string[]): string[] {
  const at = argv.indexOf('retire');
  if (at < 1 || argv[at - 1] !== 'keys' || argv.includes('--')) return argv;
  const rest = argv.slice(at + 1);
  const kids = rest.filter((arg) => KID.test(arg));
  if (kids.length === 0) return argv;
  return [...argv.slice(0, at + 1), ...rest.filter((arg) => !KID.test(arg)), '--', ...kids];
}

/** Runs the CLI and returns the exit status; errors are one `poort: <message>` per line on stderr, no stack trace. */
async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(protectKids(argv));
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : USAGE_EXIT_CODE; // already printed by commander
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(
      `${message
        .split('\n')
        .map((line) => `poort: ${line}`)
        .join('\n')}\n`,
    );
    if (process.env.POORT_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}

process.exitCode = await run(process.argv);
