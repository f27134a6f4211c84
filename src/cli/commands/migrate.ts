import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { cliActor } from '../actor.js';
import { CliError, globalOptions, usageError } from '../context.js';
import { print, printJson, printTable } from '../io.js';

/** The durable file inside a data folder, as the server names it. */
const DURABLE_FILE = 'poort.sqlite';

/**
 * `--from`: `sqlite:<data dir>` (also `sqlite://<path>`), or a bare path; the path is a data folder or the
 * poort.sqlite file in it. Any other scheme is refused: only the embedded store can be migrated from.
 */
export function parseSource(value: string): string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]+):/.exec(value);
  let location = value;
  if (scheme) {
    if (scheme[1]!.toLowerCase() !== 'sqlite')
      throw new InvalidArgumentError(
        `unknown source scheme "${scheme[1]}:": expected sqlite:<data dir> (the embedded store)`,
      );
    location = value.slice(scheme[0].length).replace(/^\/\//, '');
  }
  if (location === '') throw new InvalidArgumentError('expected sqlite:<data dir>, e.g. sqlite:./data');
  return location;
}

/** `--to`: a postgres:// or postgresql:// URL. */
export function parseTarget(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected a URL: postgres://user:password@host:port/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw new InvalidArgumentError(
      `unknown target scheme "${url.protocol}": expected postgres://user:password@host:port/database`,
    );
  return value;
}

/** The URL to show: never its password. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '****';
    if (url.searchParams.has('password')) url.searchParams.set('password', '****');
    return url.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** The SQLite file for a `--from` location: the folder's poort.sqlite, or the file itself. */
function sourceFile(location: string): string {
  const resolved = path.resolve(location);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(resolved);
  } catch {
    throw new CliError(`no Poort data at ${resolved}: expected a data folder holding ${DURABLE_FILE}`);
  }
  const file = stat.isDirectory() ? path.join(resolved, DURABLE_FILE) : resolved;
  if (!fs.existsSync(file))
    throw new CliError(`no Poort store at ${file}: expected a data folder holding ${DURABLE_FILE}`);
  return file;
}

interface MigrateOptions {
  from: string;
  to?: string;
  json?: boolean;
}

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description(
      'copy all durable data (users, clients, factors, policies, devices, the audit trail) from the embedded ' +
        'SQLite store into an empty PostgreSQL database',
    )
    .requiredOption(
      '--from <source>',
      'the embedded store: sqlite:<data dir> (or the data dir itself)',
      parseSource,
    )
    .option(
      '--to <url>',
      'postgres://user:password@host:port/database (default: $POORT_DATABASE_URL, else storage.database_url)',
      parseTarget,
    )
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      '\nThe source is only read, in one snapshot: a server running on it may go on meanwhile. The target must be\n' +
        'empty; the copy is one transaction, recorded there as a store.migrated audit event. Keep the keys folder:\n' +
        'secrets stay sealed with its keys and the audit checkpoints are signed with them.',
    )
    .action(async (opts: MigrateOptions, cmd: Command) => {
      const { loadConfig } = await import('../../config/load.js');
      const { config } = loadConfig({ file: globalOptions(cmd).config });
      const target = opts.to ?? config.storage.database_url;
      if (!target)
        usageError(
          cmd,
          "required option '--to <url>' not specified (nor POORT_DATABASE_URL, storage.database_url)",
        );
      try {
        parseTarget(target);
      } catch (err) {
        usageError(cmd, `storage.database_url: ${(err as Error).message}`);
      }
      const file = sourceFile(opts.from);
      const summary = await migrate(file, target, config.keys.dir);
      if (opts.json) return printJson(summary);
      print(`Copied ${file} to ${summary.target}:`);
      printTable(
        ['TABLE', 'ROWS'],
        summary.tables.map((t) => [t.table, String(t.rows)]),
        'No tables.',
      );
      print(
        `${summary.total} rows in ${summary.tables.length} tables. The audit trail continues at event ` +
          `${summary.audit_seq} (store.migrated). Point Poort at the new store with storage.durable: postgres.`,
      );
    });
}

async function migrate(file: string, url: string, keysDir: string) {
  const { CopyError, copySnapshot, SqliteSnapshot } = await import('../../store/copy.js');
  const { migrations } = await import('../../store/migrations/index.js');
  const { openDurablePostgres } = await import('../../store/postgres.js');
  const { PostgresAuditLog } = await import('../../audit/pg-log.js');
  const { KeyStore } = await import('../../keys/keystore.js');

  let snapshot;
  try {
    snapshot = SqliteSnapshot.open(file);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  try {
    let db;
    try {
      db = await openDurablePostgres(url, { max: 2, applicationName: 'poort-migrate' });
    } catch (err) {
      throw new CliError(`cannot open the PostgreSQL store ${redactUrl(url)}: ${(err as Error).message}`);
    }
    try {
      let auditSeq = 0;
      const tables = await copySnapshot(snapshot, db, {
        migrations: Object.keys(migrations),
        finish: async (trx, counts) => {
          // Appending reads no key; the key store is only what the audit log is made with.
          const audit = new PostgresAuditLog(trx, new KeyStore(keysDir));
          const [stored] = await audit.appendIn(trx, {
            action: 'store.migrated',
            outcome: 'success',
            actor: cliActor(),
            details: {
              from: 'sqlite',
              source: file,
              tables: Object.fromEntries(counts.map((c) => [c.table, c.rows])),
            },
          });
          auditSeq = stored!.seq;
        },
      });
      return {
        source: file,
        target: redactUrl(url),
        tables,
        total: tables.reduce((sum, t) => sum + t.rows, 0),
        audit_seq: auditSeq,
      };
    } catch (err) {
      if (err instanceof CopyError) throw new CliError(err.message);
      throw err;
    } finally {
      await db.destroy();
    }
  } finally {
    snapshot.close();
  }
}
