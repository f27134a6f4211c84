import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { compilePolicy, decide, describeOutcome, type CompiledPolicy } from '../../policy/decide.js';
import { activePolicy, policyFile, type ActivePolicy } from '../../policy/load.js';
import { parsePolicy, readPolicyFile } from '../../policy/schema.js';
import { PolicyStore, type PolicyVersion } from '../../policy/store.js';
import { storePolicyVersion } from '../../policy/versions.js';
import type { Decision, PolicyContext } from '../../policy/types.js';
import type { Services } from '../../server/services.js';
import { cliActor } from '../actor.js';
import { CliError, usageError, withServices } from '../context.js';
import { list, print, printFields, printJson, printTable, yesNo } from '../io.js';

function versionNumber(value: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('expected a version number');
  return Number(value);
}

async function storedVersion(services: Services, version: number): Promise<PolicyVersion> {
  const found = await new PolicyStore(services.db).get(version);
  if (!found) throw new CliError(`no policy version ${version} (see "poort policy history")`);
  return found;
}

function where(active: ActivePolicy): string {
  return active.version === null ? `${active.source} (no version stored)` : `version ${active.version}`;
}

interface TestOptions {
  user: string;
  ip: string;
  userAgent?: string;
  app?: string;
  protocol: 'oidc' | 'saml';
  managed?: boolean;
  knownDevice?: boolean;
  time?: string;
  file?: string;
  history: boolean;
  json?: boolean;
}

/** The context of an attempt that is not made: the same look-ups as a sign-in, without signing anyone in. */
async function whatIfContext(
  services: Services,
  policy: CompiledPolicy,
  opts: TestOptions,
  now: number,
): Promise<{ ctx: PolicyContext; history: string }> {
  const { countryOf, deviceOf } = await import('../../policy/source.js');
  const { locationOf } = await import('../../policy/context.js');
  const user = await services.users.require(opts.user);
  const device = deviceOf(opts.userAgent);
  const location = locationOf(opts.ip);
  let previous: PolicyContext['previous'];
  let failures: number[] = [];
  let history = 'not read (--no-history)';
  if (opts.history) {
    const { SignInHistory } = await import('../../policy/history.js');
    const signIns = new SignInHistory(services.kv, async () => policy.failuresWindow);
    [previous, failures] = await Promise.all([signIns.previous(user.id), signIns.failures(user.id)]);
    history = `${previous ? `previous sign-in ${new Date(previous.at).toISOString()} from ${previous.country}` : 'no previous sign-in'}; ${failures.length} recent failed attempt${failures.length === 1 ? '' : 's'}`;
  }
  const ctx: PolicyContext = {
    ip: opts.ip,
    country: countryOf(opts.ip) ?? 'unknown',
    ...(location ? { location } : {}),
    device: {
      type: device.type,
      ...(device.os ? { os: device.os } : {}),
      managed: opts.managed === true,
      known: opts.knownDevice === true,
    },
    application: { id: opts.app ?? '', protocol: opts.protocol },
    user: { id: user.id, username: user.username, groups: user.groups },
    now,
    ...(previous ? { previous } : {}),
    failures,
  };
  return { ctx, history };
}

function printDecision(
  decision: Decision,
  ctx: PolicyContext,
  policy: CompiledPolicy,
  source: string,
  history: string,
): void {
  const networks = policy.networksOf(ctx.ip);
  const classification = policy.classificationOf(ctx.application.id);
  printFields([
    ['decision', describeOutcome(decision.outcome)],
    ['because', decision.rules.length > 0 ? list(decision.rules) : 'no enforced rule matched: the default'],
    ['policy', source],
  ]);
  print();
  printFields([
    ['user', `${ctx.user.username} (groups: ${list(ctx.user.groups)})`],
    ['address', `${ctx.ip} (networks: ${list(networks)}; country: ${ctx.country})`],
    [
      'device',
      `${ctx.device.type}${ctx.device.os ? `, ${ctx.device.os}` : ''}; managed: ${yesNo(ctx.device.managed)}; known: ${yesNo(ctx.device.known)}`,
    ],
    [
      'application',
      ctx.application.id
        ? `${ctx.application.id} (${ctx.application.protocol}; classification: ${classification ?? '-'})`
        : '- (none given)',
    ],
    ['time', new Date(ctx.now).toISOString()],
    ['history', history],
  ]);
  print();
  printTable(
    ['RULE', 'MODE', 'MATCHED', 'WHY'],
    decision.trace.map((t) => [t.rule, t.reportOnly ? 'report_only' : 'enforce', yesNo(t.matched), t.why]),
    'No rules: the default decides.',
  );
  for (const r of decision.reportOnly) {
    print();
    print(`report-only: ${r.rule} would have required ${describeOutcome(r.outcome)}`);
  }
}

export function registerPolicyCommands(program: Command): void {
  const policy = program
    .command('policy')
    .description('sign-in policies: show, validate, set, test (what-if), history and rollback');

  policy
    .command('show')
    .description('print the policy in force (or a stored version) as YAML, with its version')
    // an argument, not --version: that option belongs to `poort` itself, wherever it is given
    .argument('[version]', 'a stored version instead of the one in force', versionNumber)
    .action(async (version: number | undefined, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        if (version !== undefined) {
          const found = await storedVersion(services, version);
          print(`# policy version ${found.version}, set ${found.createdAt} by ${found.createdBy}`);
          process.stdout.write(found.text.endsWith('\n') ? found.text : `${found.text}\n`);
          return;
        }
        // the text as stored or written, even when it no longer validates: that is when one needs to see it
        const latest = await new PolicyStore(services.db).latest();
        if (latest) {
          print(
            `# policy version ${latest.version} (in force), set ${latest.createdAt} by ${latest.createdBy}`,
          );
          process.stdout.write(latest.text.endsWith('\n') ? latest.text : `${latest.text}\n`);
          return;
        }
        const file = policyFile(services);
        let text: string;
        try {
          text = fs.readFileSync(file, 'utf8');
        } catch (err) {
          throw new CliError(
            `${file}: cannot read the policy file: ${(err as NodeJS.ErrnoException).code ?? err}`,
          );
        }
        print(`# policy file ${file} (in force; no version stored yet)`);
        process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
      });
    });

  policy
    .command('validate')
    .description('check a policy file; exit 0 when it can be used, else 1 with every problem')
    .requiredOption('--file <file>', 'the policy file (YAML)')
    .action((opts: { file: string }) => {
      const { spec } = readPolicyFile(path.resolve(opts.file));
      compilePolicy(spec);
      const reportOnly = spec.rules.filter((r) => r.mode === 'report_only').length;
      print(
        `valid: ${spec.rules.length} rule${spec.rules.length === 1 ? '' : 's'}${reportOnly > 0 ? ` (${reportOnly} report-only)` : ''}`,
      );
    });

  policy
    .command('set')
    .description(
      'validate a policy file and store it as the next version; a running server applies it at once',
    )
    .requiredOption('--file <file>', 'the policy file (YAML)')
    .action(async (opts: { file: string }, cmd: Command) => {
      const file = path.resolve(opts.file);
      const { text, spec } = readPolicyFile(file);
      compilePolicy(spec);
      await withServices(cmd, async (services) => {
        const result = await storePolicyVersion(services, cliActor(), text, spec, (summary) => summary);
        if (!result) {
          print('No change: the newest version is the same text');
          return;
        }
        print(
          `Stored policy version ${result.stored.version} (${spec.rules.length} rules): ${result.stored.summary}`,
        );
      });
    });

  policy
    .command('history')
    .description('list the stored versions, newest last')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const versions = await new PolicyStore(services.db).list();
        if (opts.json) return printJson(versions);
        if (versions.length === 0) {
          const active = await activePolicy(services).catch(() => undefined);
          print(`No versions stored; the policy file is in force${active ? `: ${active.source}` : ''}.`);
          return;
        }
        const newest = versions[versions.length - 1]!.version;
        printTable(
          ['VERSION', 'SET', 'BY', 'SUMMARY'],
          versions.map((v) => [
            `${v.version}${v.version === newest ? '*' : ''}`,
            v.createdAt,
            v.createdBy,
            v.summary,
          ]),
          '',
        );
        print();
        print('* in force');
      });
    });

  policy
    .command('rollback')
    .description('store an earlier version again as the next version')
    .argument('<version>', 'the stored version to return to', versionNumber)
    .action(async (version: number, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const old = await storedVersion(services, version);
        const spec = parsePolicy(old.text, `policy version ${old.version}`);
        compilePolicy(spec);
        const result = await storePolicyVersion(
          services,
          cliActor(),
          old.text,
          spec,
          (summary) => `rollback to version ${old.version}: ${summary}`,
          { rollback_to: old.version },
        );
        if (!result) {
          print(`No change: version ${old.version} is the same as the version in force`);
          return;
        }
        print(`Stored policy version ${result.stored.version}: ${result.stored.summary}`);
      });
    });

  policy
    .command('test')
    .description('what-if: the decision and trace for an attempt, without signing anyone in')
    .requiredOption('--user <username>', 'an existing user (their groups count)')
    .requiredOption('--ip <address>', 'the client address, IPv4 or IPv6')
    .option('--user-agent <ua>', 'the browser user agent (default: none, a desktop)')
    .option('--app <id>', 'the application: OIDC client_id or SAML entityID')
    .option('--protocol <protocol>', 'the application protocol: oidc or saml', 'oidc')
    .option('--managed', 'the attempt proves a managed device')
    .option('--known-device', 'the browser is remembered for this user')
    .option('--time <time>', 'when, ISO 8601 such as 2026-03-29T09:30:00+02:00 (default: now)')
    .option('--file <file>', 'a policy file to try instead of the policy in force')
    .option('--no-history', "ignore the user's previous sign-in and recent failed attempts")
    .option('--json', 'print JSON')
    .action(async (opts: TestOptions, cmd: Command) => {
      if (net.isIP(opts.ip) === 0)
        usageError(cmd, `--ip: expected an IPv4 or IPv6 address, got "${opts.ip}"`);
      if (opts.protocol !== 'oidc' && opts.protocol !== 'saml')
        usageError(cmd, `--protocol: expected oidc or saml, got "${String(opts.protocol)}"`);
      const now = opts.time === undefined ? Date.now() : Date.parse(opts.time);
      if (Number.isNaN(now))
        usageError(
          cmd,
          `--time: expected an ISO 8601 time such as 2026-03-29T09:30:00+02:00, got "${opts.time}"`,
        );
      const candidate = opts.file === undefined ? undefined : readPolicyFile(path.resolve(opts.file));
      await withServices(cmd, async (services) => {
        const { compiled, source } = candidate
          ? { compiled: compilePolicy(candidate.spec), source: path.resolve(opts.file!) }
          : await activePolicy(services).then((a) => ({ compiled: a.compiled, source: where(a) }));
        const { ctx, history } = await whatIfContext(services, compiled, opts, now);
        const decision = decide(compiled, ctx);
        if (opts.json) {
          printJson({
            policy: source,
            context: ctx,
            networks: compiled.networksOf(ctx.ip),
            classification: compiled.classificationOf(ctx.application.id) ?? null,
            decision,
          });
          return;
        }
        printDecision(decision, ctx, compiled, source, history);
      });
    });
}
