import type { Command } from 'commander';
import { EnrolmentCodes, storeEnrolmentCode } from '../../mfa/enrolment-codes.js';
import type { FactorRecord } from '../../mfa/factor.js';
import { factorRemovalChanges } from '../../mfa/factor-removal.js';
import { FactorError, FactorRepository } from '../../mfa/factors.js';
import { RecoveryCodes } from '../../mfa/recovery.js';
import { newTotpSecret, totpUri } from '../../mfa/totp.js';
import type { Services } from '../../server/services.js';
import { CliError, lifetimeOption, withServices } from '../context.js';
import { print, printJson, printTable, readSecret } from '../io.js';
import { recorded, subject, type Change } from '../record.js';

/** The longest an enrolment code may live: it stands in for the user's identity at enrolment. */
const MAX_TTL_SECONDS = 30 * 86400;
const parseTtl = lifetimeOption(MAX_TTL_SECONDS);

/**
 * A hardware token's seed as vendors print it: base32, case, spaces, dashes and `=` padding ignored. Returns the
 * canonical form, or throws with what is wrong.
 */
export function parseTotpSeed(input: string): string {
  const seed = input
    .replace(/[\s-]+/g, '')
    .replace(/=+$/, '')
    .toUpperCase();
  if (!/^[A-Z2-7]+$/.test(seed))
    throw new CliError('the seed is not base32 (letters A-Z and digits 2-7, as printed with the token)');
  const bytes = Math.floor((seed.length * 5) / 8);
  if (bytes < 16)
    throw new CliError(
      `the seed is ${bytes} bytes; a TOTP seed must be at least 16 bytes (26 base32 characters)`,
    );
  if (bytes > 64) throw new CliError(`the seed is ${bytes} bytes; at most 64 are supported`);
  return seed;
}

function enrolledChange(
  user: { id: string; username: string },
  factor: FactorRecord,
  method: string,
): Change {
  return {
    action: 'mfa.enrolled',
    subject: subject(user),
    details: { factor: factor.kind, factor_id: factor.id, name: factor.name, method },
  };
}

/** Adds a TOTP factor with the given seed, audited in the same transaction. */
async function addTotp(
  services: Services,
  user: { id: string; username: string },
  secret: string,
  name: string,
  method: 'cli_enroll' | 'cli_import',
): Promise<FactorRecord> {
  return recorded(services, async (db) => {
    const factor = await new FactorRepository(db, services.secrets.encryptionKey).add({
      userId: user.id,
      kind: 'totp',
      name,
      secret,
    });
    return { result: factor, changes: [enrolledChange(user, factor, method)] };
  });
}

export function registerMfaCommands(program: Command): void {
  const mfa = program
    .command('mfa')
    .description('manage second factors: list and reset them, helpdesk enrolment codes, recovery codes');

  mfa
    .command('list')
    .description('list the second factors of a user and how many recovery codes are left (never a secret)')
    .argument('<username>')
    .option('--json', 'print JSON')
    .action(async (username: string, opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const user = await services.users.require(username);
        const factors = await services.factors.list(user.id);
        const recoveryCodes = await new RecoveryCodes(services.db, services.hasher).remaining(user.id);
        if (opts.json)
          return printJson({ username: user.username, factors, unusedRecoveryCodes: recoveryCodes });
        printTable(
          ['ID', 'KIND', 'NAME', 'CREATED', 'LAST USED'],
          factors.map((f) => [f.id, f.kind, f.name, f.createdAt, f.lastUsedAt ?? 'never']),
          `${user.username} has no second factors.`,
        );
        print(`Unused recovery codes: ${recoveryCodes}`);
      });
    });

  mfa
    .command('reset')
    .description('remove one second factor of a user, or all of them and their recovery codes')
    .argument('<username>')
    .option('--factor <id>', 'remove only this factor (see "poort mfa list")')
    .action(async (username: string, opts: { factor?: string }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const user = await services.users.require(username);
        const removed = await recorded(services, async (db) => {
          const factors = new FactorRepository(db, services.secrets.encryptionKey);
          let records: FactorRecord[];
          let recoveryCodes = 0;
          if (opts.factor !== undefined) {
            try {
              records = [await factors.remove(opts.factor, user.id)];
            } catch (err) {
              if (err instanceof FactorError && err.code === 'not_found')
                throw new CliError(`${user.username} has no factor ${opts.factor}`);
              throw err;
            }
          } else {
            records = await factors.removeAll(user.id);
            recoveryCodes = await new RecoveryCodes(db, services.hasher).removeAll(user.id);
          }
          return {
            result: { records, recoveryCodes },
            changes: factorRemovalChanges(user, records, recoveryCodes),
          };
        });
        if (removed.records.length === 0 && removed.recoveryCodes === 0) {
          print(`${user.username} had no second factors`);
          return;
        }
        for (const f of removed.records)
          print(`Removed ${f.kind} factor "${f.name}" (id ${f.id}) of ${user.username}`);
        if (removed.recoveryCodes > 0)
          print(`Removed ${removed.recoveryCodes} unused recovery codes of ${user.username}`);
      });
    });

  mfa
    .command('enrolment-code')
    .description(
      'print a single-use code that lets a user enrol a second factor from anywhere; it replaces earlier codes',
    )
    .argument('<username>')
    .option('--ttl <lifetime>', 'how long the code is valid: 30m, 24h, 7d (at most 30d)', parseTtl, 86400)
    .action(async (username: string, opts: { ttl: number }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const user = await services.users.require(username);
        const prepared = await new EnrolmentCodes(services.db, services.hasher).prepare(opts.ttl);
        const { withdrawn } = await recorded(services, (db) =>
          storeEnrolmentCode(db, services.hasher, user, prepared, opts.ttl),
        );
        print(`Enrolment code for ${user.username}, valid once until ${prepared.expiresAt}:`);
        print(`  ${prepared.code}`);
        if (withdrawn > 0) print('The earlier code no longer works.');
      });
    });

  mfa
    .command('recovery-codes')
    .description(
      'make 10 new single-use recovery codes for a user and print them once; earlier codes stop working',
    )
    .argument('<username>')
    .action(async (username: string, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const user = await services.users.require(username);
        const prepared = await new RecoveryCodes(services.db, services.hasher).prepare();
        await recorded(services, async (db) => {
          const { replaced } = await new RecoveryCodes(db, services.hasher).replace(user.id, prepared);
          return {
            result: undefined,
            changes: [
              {
                action: 'mfa.recovery_codes.generated',
                subject: subject(user),
                details: { count: prepared.codes.length, replaced },
              },
            ],
          };
        });
        print(`Recovery codes for ${user.username}; each works once, and they are not shown again:`);
        for (const code of prepared.codes) print(`  ${code}`);
      });
    });

  const totp = mfa.command('totp').description('add authenticator-app or hardware-token (TOTP) factors');

  totp
    .command('enroll')
    .description('add a TOTP factor with a new seed and print its otpauth:// URI, for helpdesk-led enrolment')
    .argument('<username>')
    .option('--name <name>', 'what the user calls it', 'Authenticator')
    .action(async (username: string, opts: { name: string }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const user = await services.users.require(username);
        const secret = newTotpSecret();
        const factor = await addTotp(services, user, secret, opts.name, 'cli_enroll');
        print(`Added TOTP factor "${factor.name}" (id ${factor.id}) for ${user.username}.`);
        print('Give the user this URI (as a QR code) once; it holds the secret:');
        print(totpUri(secret, services.config.organisation.name, user.username));
      });
    });

  totp
    .command('import')
    .description('bind a hardware OATH token: read its seed (base32, one line) from standard input')
    .argument('<username>')
    .requiredOption('--secret-stdin', 'read the seed from the first line of standard input')
    .option('--name <name>', 'what the user calls it', 'Hardware token')
    .action(async (username: string, opts: { name: string }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const user = await services.users.require(username);
        const secret = parseTotpSeed(await readSecret('seed'));
        const factor = await addTotp(services, user, secret, opts.name, 'cli_import');
        print(`Added TOTP factor "${factor.name}" (id ${factor.id}) for ${user.username}`);
      });
    });
}
