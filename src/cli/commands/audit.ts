import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { archiveAndPrune, verifyArchive } from '../../audit/archive.js';
import { auditCsv } from '../../audit/csv.js';
import { toEcs } from '../../audit/ecs.js';
import type { AuditFilter } from '../../audit/log.js';
import type { ShippingStatus } from '../../audit/shipping-status.js';
import { isValidCidr } from '../../http/cidr.js';
import { cliActor } from '../actor.js';
import { CliError, durationArgument, usageError, withServices } from '../context.js';
import { print, printFields, printJson, printTable } from '../io.js';

/** `2026-12-01`, `2026-12-01T08:00:00Z`, or relative: `15m`, `24h`, `7d` ago. */
function parseTime(value: string): string {
  const relative = /^(\d+)([mhd])$/.exec(value);
  if (relative) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 'm' | 'h' | 'd'];
    return new Date(Date.now() - Number(relative[1]) * unit).toISOString();
  }
  const time = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(time.getTime())) {
    throw new InvalidArgumentError(
      'expected a date or time such as 2026-12-01, 2026-12-01T08:00:00Z, or 24h / 7d ago',
    );
  }
  return time.toISOString();
}

function parseLimit(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1_000_000)
    throw new InvalidArgumentError('expected a number from 1 to 1000000');
  return Number(value);
}

function parseCidr(value: string): string {
  if (!isValidCidr(value)) throw new InvalidArgumentError('expected an IP address or CIDR range');
  return value;
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('search, verify and archive the audit trail');

  audit
    .command('search')
    .description('find events, newest first')
    .option('--user <username>', 'the user the event is about (username as typed, or user id)')
    .option('--action <action>', 'an action such as signin.password; signin.* matches a prefix')
    .option('--outcome <outcome>', 'success, failure or denied')
    .option('--app <id>', 'client id (or SAML entity id)')
    .option('--ip <cidr>', 'client address or range', parseCidr)
    .option('--since <time>', 'from this time (date, ISO time, or 24h / 7d ago)', parseTime)
    .option('--until <time>', 'before this time', parseTime)
    .option('--limit <n>', 'at most this many events (default 100)', parseLimit)
    .option('--json', 'one Elastic Common Schema document per line')
    .option('--csv', 'comma-separated values with a header line')
    .action(async (opts: AuditFilter & { json?: boolean; csv?: boolean }, cmd: Command) => {
      if (opts.json && opts.csv) usageError(cmd, 'choose one of --json and --csv');
      if (opts.outcome && !['success', 'failure', 'denied'].includes(opts.outcome))
        usageError(cmd, '--outcome must be success, failure or denied');
      await withServices(cmd, async (services) => {
        const { json, csv, ...filter } = opts;
        const events = await services.audit.query(filter);
        if (json) {
          for (const e of events) process.stdout.write(`${JSON.stringify(toEcs(e))}\n`);
          return;
        }
        if (csv) {
          process.stdout.write(auditCsv(events));
          return;
        }
        printTable(
          ['SEQ', 'TIME', 'ACTION', 'OUTCOME', 'USER', 'APP', 'IP', 'REASON'],
          events.map((s) => [
            String(s.seq),
            s.event.time,
            s.event.action,
            s.event.outcome,
            s.event.subject?.username ?? s.event.subject?.id ?? '',
            s.event.application?.id ?? '',
            s.event.source?.ip ?? '',
            s.event.reason ?? '',
          ]),
          'No events match.',
        );
      });
    });

  audit
    .command('verify')
    .description('check the hash chain and the signed checkpoints; exit 1 at the first break')
    .option('--archive <file>', 'check an archive file instead of the trail in the database')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { archive?: string; json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        if (opts.archive) {
          const report = await verifyArchive(path.resolve(opts.archive), services.keys);
          if (opts.json) printJson(report);
          else if (report.ok)
            print(
              `OK: archive of events ${report.summary!.first_seq}–${report.summary!.last_seq} (${report.summary!.count} events) is intact and signed.`,
            );
          if (!report.ok) throw new CliError(`archive ${opts.archive} is NOT intact: ${report.problem}`);
          return;
        }
        await services.audit.checkpoint();
        const report = await services.audit.verify();
        if (opts.json) printJson(report);
        else if (report.ok) {
          print(
            report.events === 0
              ? 'OK: the trail holds no events.'
              : `OK: ${report.events} events (${report.firstSeq}–${report.lastSeq}) and ${report.checkpoints} signed checkpoints are intact.`,
          );
        }
        if (!report.ok) {
          const p = report.problem!;
          throw new CliError(
            `the audit trail is NOT intact: at event ${p.seq}${p.id ? ` (${p.id})` : ''}: ${p.problem}`,
          );
        }
      });
    });

  audit
    .command('shipping')
    .description('show how far each sink has taken the trail, which node ships it, and sinks that fail')
    .option('--json', 'print the status as JSON')
    .option(
      '--max-late <duration>',
      'exit 1 when a sink has not taken an event older than this (a check for monitoring)',
      durationArgument({ max: 30 * 86400, example: 'a duration such as 90s, 15m or 1h' }),
    )
    .action(async (opts: { json?: boolean; maxLate?: number }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        // loaded only now: the sinks' modules, like the store's, are not needed for help and usage errors
        const { shippingStatus } = await import('../../audit/shipping-status.js');
        const { shippedSinkNames } = await import('../../server/sink-names.js');
        const status = await shippingStatus(services.audit, services.kv, shippedSinkNames(services.config));
        if (opts.json) printJson(status);
        else printShipping(status);
        const limit = opts.maxLate;
        if (limit === undefined) return;
        const late = status.sinks.filter((s) => s.configured && s.lateSeconds > limit);
        if (late.length > 0) {
          throw new CliError(
            `${late.map((s) => `sink ${s.sink} is ${lateText(s.lateSeconds)} late`).join('; ')} (at most ${lateText(limit)})`,
          );
        }
      });
    });

  audit
    .command('archive')
    .description('export events older than a time as signed JSON lines, then prune them from the database')
    .requiredOption(
      '--before <time>',
      'archive events before this time (date, ISO time, or 30d ago)',
      parseTime,
    )
    .requiredOption('--out <file>', 'the archive file to write (must not exist)')
    .action(async (opts: { before: string; out: string }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const sinks = services.config.audit.sinks.map((s) => s.name);
        const cursors = await Promise.all(sinks.map((name) => services.audit.cursor(name)));
        let summary;
        try {
          summary = await archiveAndPrune(services.audit, services.db, services.keys, {
            before: opts.before,
            out: path.resolve(opts.out),
            ...(cursors.length ? { upTo: Math.min(...cursors) } : {}),
          });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST')
            throw new CliError(`${opts.out} exists; choose a new file`);
          throw err;
        }
        if (!summary) return print(`No events before ${opts.before} to archive.`);
        await services.audit.append({
          action: 'audit.archived',
          outcome: 'success',
          actor: cliActor(),
          details: {
            first_seq: summary.first_seq,
            last_seq: summary.last_seq,
            count: summary.count,
            file: path.basename(opts.out),
          },
        });
        print(
          `Archived ${summary.count} events (${summary.first_seq}–${summary.last_seq}) to ${opts.out} and pruned them.`,
        );
      });
    });
}

/** 45s, 12m, 3h, 2d: how long ago, to the largest whole unit. */
export function lateText(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

function printShipping(status: ShippingStatus): void {
  printFields([
    [
      'Trail head',
      status.head ? `event ${status.head.seq}, ${status.head.time}` : 'none (the trail is empty)',
    ],
    [
      'Shipping node',
      status.shipper
        ? `${status.shipper.node}, since ${status.shipper.since}`
        : status.ephemeralError !== undefined
          ? `unknown: the key-value store could not be read (${status.ephemeralError})`
          : 'none: no server runs, or the one that shipped stopped less than 15 s ago',
    ],
  ]);
  print();
  printTable(
    ['SINK', 'DELIVERED', 'BEHIND', 'LATE', 'STATE'],
    status.sinks.map((s) => [
      s.sink,
      String(s.delivered),
      String(s.behind),
      s.behind > 0 ? lateText(s.lateSeconds) : '-',
      !s.configured
        ? 'no longer configured'
        : s.failure
          ? `failing since ${s.failure.since}, ${s.failure.attempts} attempt${s.failure.attempts === 1 ? '' : 's'}: ${s.failure.error}`
          : s.behind > 0
            ? 'catching up'
            : 'ok',
    ]),
    'No sinks.',
  );
}
