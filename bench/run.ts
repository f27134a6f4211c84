#!/usr/bin/env node
/**
 * Poort's benchmark: argon2id's ceiling on one core, then complete password sign-ins, client-credentials grants and
 * refresh grants against a real server in a child process, with the server's CPU per operation read from /proc; audit
 * appends in this process; each of these on the embedded store, on Redis + PostgreSQL and on two nodes of it, side by
 * side; policy decisions with 50 rules in this process; and sign-ins with and without audit sinks side by side.
 *
 *   npm run bench
 *   node dist/bench/run.js [--duration S] [--concurrency N]
 *     [--scenario argon2|signin|cc|refresh|saml|audit|policy|signin-sink|signin-ldap|healthz|discovery|steps]...
 *     [--backend embedded|scaled|two-nodes|two-apart|two-split]...
 */
import os from 'node:os';
import { HttpClient, BalancedHttpClient } from './http.js';
import {
  mergeLoadResults,
  runLoad,
  warmUp,
  WARM_SETTLED_SHARE,
  type LoadResult,
  type WarmUpResult,
  type Workload,
} from './load.js';
import { argon2Ceiling, mergeArgon2Results, type Argon2Result } from './scenarios/argon2.js';
import {
  auditAppends,
  auditAppendsFromNodes,
  type AppendPhase,
  type AuditResult,
} from './scenarios/audit.js';
import { clientCredentialsWorkload } from './scenarios/client-credentials.js';
import { floorWorkload } from './scenarios/floor.js';
import { policyDecisions, type PolicyResult } from './scenarios/policy.js';
import { refreshWorkload } from './scenarios/refresh.js';
import { samlWorkload } from './scenarios/saml.js';
import { signInWorkload } from './scenarios/signin.js';
import {
  EVENTS_PER_SIGNIN,
  SINK_KINDS,
  signInSinkComparison,
  type SinkComparison,
  type SinkKind,
} from './scenarios/signin-sink.js';
import { signInLdapComparison, type LdapComparison } from './scenarios/signin-ldap.js';
import { measureSteps, type StepsResult } from './scenarios/steps.js';
import { freePort } from './free-port.js';
import { createScaledStore } from './scaled.js';
import {
  clockTicksPerSecond,
  machineCpuMs,
  prepareEnvironment,
  seed,
  startServer,
  storeServersCpuMs,
  type BenchEnvironment,
  type ProcessCpu,
  type RunningBenchServer,
} from './server.js';

const SCENARIOS = [
  'argon2',
  'signin',
  'cc',
  'refresh',
  'saml',
  'audit',
  'policy',
  'signin-sink',
  'signin-ldap',
  'healthz',
  'discovery',
  'steps',
] as const;
/** run when no --scenario is given; healthz and discovery are reference points to ask for */
const DEFAULT_SCENARIOS: readonly ScenarioName[] = [
  'argon2',
  'signin',
  'cc',
  'refresh',
  'saml',
  'audit',
  'policy',
  'signin-sink',
  'signin-ldap',
];
type ScenarioName = (typeof SCENARIOS)[number];
/**
 * embedded: SQLite, one node; scaled: Redis + PostgreSQL, one node; two-nodes: the same store, two server processes,
 * each with as many virtual users as one node gets (scaling out: each node carries its share of twice the load);
 * two-apart: the control for two-nodes, two server processes as well but each on a store of its own (its own database
 * and Redis prefix), the same load per node: what two processes cost on this machine with nothing shared;
 * two-split: two nodes on the same store sharing one node's virtual users, each node half as busy.
 */
const BACKENDS = ['embedded', 'scaled', 'two-nodes', 'two-apart', 'two-split'] as const;
type Backend = (typeof BACKENDS)[number];
const BACKEND_LABELS: Record<Backend, string> = {
  embedded: 'embedded',
  scaled: 'redis+postgres',
  'two-nodes': 'two nodes',
  'two-apart': 'two apart',
  'two-split': 'two split',
};
/** Backends whose nodes each get the virtual users of one node, rather than a share of them. */
const LOAD_PER_NODE: ReadonlySet<Backend> = new Set(['two-nodes', 'two-apart']);
type LoadScenario = Exclude<
  ScenarioName,
  'argon2' | 'steps' | 'audit' | 'policy' | 'signin-sink' | 'signin-ldap'
>;
const LOAD_SCENARIOS: readonly LoadScenario[] = ['signin', 'cc', 'refresh', 'saml', 'healthz', 'discovery'];

/**
 * The load scenarios warm the server up until its CPU per operation settles (`warmUp`), in windows of this length,
 * for at least minMs and at most maxMs; on two nodes each window and bound is twice as long (each node gets half the
 * operations, and warms up as one node does).
 */
const WARM_UP: Record<LoadScenario, { windowMs: number; minMs: number; maxMs: number }> = {
  signin: { windowMs: 4000, minMs: 40_000, maxMs: 90_000 },
  cc: { windowMs: 2000, minMs: 8000, maxMs: 30_000 },
  refresh: { windowMs: 2000, minMs: 8000, maxMs: 30_000 },
  saml: { windowMs: 2000, minMs: 8000, maxMs: 30_000 },
  healthz: { windowMs: 1000, minMs: 4000, maxMs: 10_000 },
  discovery: { windowMs: 1000, minMs: 4000, maxMs: 10_000 },
};

const DEFAULTS = {
  /** before signin-sink's and signin-ldap's alternating windows (both sides warm up alike) */
  warmupMs: 1000,
  durationMs: {
    argon2: 3000,
    signin: 8000,
    cc: 12_000,
    refresh: 12_000,
    saml: 8000,
    audit: 3000,
    policy: 2000,
    'signin-sink': 8000,
    'signin-ldap': 8000,
    healthz: 3000,
    discovery: 3000,
    steps: 5000,
  } satisfies Record<ScenarioName, number>,
  concurrency: {
    signin: 4,
    cc: 8,
    refresh: 8,
    saml: 4,
    'signin-sink': 4,
    'signin-ldap': 4,
    healthz: 8,
    discovery: 8,
  },
};

/**
 * signin and the argon2 verifies it is compared with run in this many windows each, alternating: the machine is
 * shared, and argon2id (19 MiB walked at random) costs more CPU while other processes fill the caches, so both sides
 * of the ratio must see the same minutes. Each later sign-in window starts with a short warm-up: the verifies in
 * between evict the server's caches, which a server under steady load would keep.
 */
const SIGNIN_ROUNDS = 4;
const SIGNIN_REWARM_MS = 250;
/** Above this share of the machine used by other processes, a window's figures are flagged as unreliable. */
const NOISY_SHARE = 0.15;
/** A complete sign-in may cost at most this many argon2id verifies of server CPU. */
const SIGNIN_CPU_BUDGET = 1.25;
/** A client-credentials grant may cost at most this much server CPU. */
const CC_CPU_BUDGET_MS = 0.3;
/** Audit appends on the embedded store, one at a time: at least this many per second (the issue's requirement). */
const AUDIT_APPENDS_PER_SECOND = 5000;
/** Policy decisions with 50 rules, one at a time in one thread: at least this many per second (issue 5). */
const POLICY_DECISIONS_PER_SECOND = 100_000;
/** Sign-ins per second with the audit sinks enabled may be at most this share below the rate without them. */
const SINK_SLOWDOWN_LIMIT = 0.1;
/** Server CPU per operation on two nodes may be at most this share above one node's on the same store (issue 7). */
const TWO_NODE_CPU_LIMIT = 0.15;

const USAGE = `usage: node dist/bench/run.js [--duration S] [--concurrency N] [--scenario NAME]... [--backend NAME]...

  --duration S      measured seconds of every scenario (default: argon2 3, signin 8, cc 12, refresh 12, saml 8, audit 3
                    per phase, policy 2, signin-sink 8 and signin-ldap 8 per server), in four windows; the
                    Redis + PostgreSQL backends are measured together, their windows taking turns (and
                    signin's with argon2id's), so that each comparison sees the same minutes of a shared
                    machine. Before that, each load scenario warms the server up until its main-thread
                    CPU per operation stops falling (signin: 40 to 90 s, the others 8 to 30 s; twice that
                    on two nodes)
  --concurrency N   virtual users of every load scenario (default: signin 4, cc 8, refresh 8, saml 4, signin-sink 4,
                    signin-ldap 4)
  --scenario NAME   run only NAME; repeat or separate with commas (argon2, signin, cc, refresh, saml, audit,
                    policy, signin-sink, signin-ldap; default all nine). saml: SP-initiated SAML single sign-on round trips
                    (HTTP-Redirect AuthnRequest → signed assertion) in a browser that already has a session.
                    signin also runs argon2, which it is compared
                    with, in four windows each, alternating (the same minutes for both). audit: appends
                    to the audit trail in this process, one at a time and in batches of 8, then verifies
                    the chain: on a fresh embedded store, on Redis + PostgreSQL, and from two stores
                    opened side by side (two nodes). policy: decide() in this
                    process with a compiled 50-rule policy over eight varied attempts in turn.
                    signin-sink: signin against two fresh servers, without audit sinks and with a file
                    and a webhook sink, in alternating windows; checks the sinks received every event.
                    signin-ldap: signin against two fresh servers, one with local users and one whose users
                    are entries of a real OpenLDAP slapd (needs /usr/sbin/slapd), in alternating windows.
                    Reference points, only when named: healthz (Express alone) and discovery (Express +
                    oidc-provider), one GET each; and steps: one request at a time, the server's CPU per
                    request of a sign-in and of the other flows (exact, from schedstat; idle between
                    requests, so higher than under load).
  --backend NAME    run the server scenarios (signin, cc, refresh, healthz, discovery) and audit on NAME only;
                    repeat or separate with commas (default all five): embedded (SQLite, one node),
                    scaled (Redis + PostgreSQL, one node: a database and a key prefix of the bench's own,
                    created and dropped by it), two-nodes (the same store, two server processes, each request
                    to the one with fewer in flight, as a least-connections balancer, in turn where even;
                    twice the virtual users: as many per node as one node gets),
                    two-apart (the control: two server processes each on a store of its own, each virtual
                    user staying with one, as many per node; no audit scenario) and two-split (two nodes on
                    the same store sharing one node's virtual users: each half as busy; no audit scenario).
                    Two nodes ÷ two apart is the cost of sharing the store (coordination); two nodes ÷ one
                    node adds what a second process costs on this machine; two split ÷ one node adds what
                    a node half as busy costs per operation (fewer requests share each turn of its event
                    loop and each round trip to Redis and PostgreSQL). steps runs on embedded only; policy,
                    signin-sink and signin-ldap do not depend on the backend.

  BENCH_NODE_ARGS   extra node arguments for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof";
                    summarise with: node dist/bench/profile.js FILE.cpuprofile [--match REGEX]
  BENCH_SERVER_CPUS CPUs to pin the server to (taskset), e.g. 0; run the bench under "taskset -c 1" beside it
  BENCH_SINKS       the audit sinks of signin-sink's second server: file, webhook or file,webhook (default)
  BENCH_POSTGRES_URL  where scaled creates its database (default postgres://postgres@127.0.0.1:5432/postgres)
  BENCH_REDIS_URL   the Redis of scaled (default redis://127.0.0.1:6379), under a key prefix of its own
  -h, --help        this text
`;

interface Options {
  durationMs?: number;
  concurrency?: number;
  scenarios: Set<ScenarioName>;
  backends: Set<Backend>;
  sinks: SinkKind[];
}

function usage(message?: string): never {
  if (message) process.stderr.write(`bench: ${message}\n`);
  process.stderr.write(USAGE);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  let durationMs: number | undefined;
  let concurrency: number | undefined;
  const scenarios = new Set<ScenarioName>();
  const backends = new Set<Backend>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) usage(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--concurrency': {
        const v = value();
        concurrency = Number(v);
        if (!/^\d+$/.test(v) || concurrency < 1 || concurrency > 64) {
          usage(`--concurrency: expected a whole number from 1 to 64, got "${v}"`);
        }
        break;
      }
      case '--duration': {
        const v = value();
        const seconds = Number(v);
        if (!/^\d+(\.\d+)?$/.test(v) || seconds <= 0 || seconds > 60)
          usage(`--duration: expected seconds between 0 and 60, got "${v}"`);
        durationMs = seconds * 1000;
        break;
      }
      case '--scenario':
        for (const name of value().split(',')) {
          if (!(SCENARIOS as readonly string[]).includes(name))
            usage(`--scenario: unknown scenario "${name}"`);
          scenarios.add(name as ScenarioName);
        }
        break;
      case '--backend':
        for (const name of value().split(',')) {
          if (!(BACKENDS as readonly string[]).includes(name))
            usage(`--backend: unknown backend "${name}" (${BACKENDS.join(', ')})`);
          backends.add(name as Backend);
        }
        break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default:
        usage(`unknown argument "${arg}"`);
    }
  }
  if (scenarios.size === 0) for (const s of DEFAULT_SCENARIOS) scenarios.add(s);
  if (backends.size === 0) for (const b of BACKENDS) backends.add(b);
  if (scenarios.has('signin')) scenarios.add('argon2');
  const sinks = (process.env.BENCH_SINKS ?? SINK_KINDS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = sinks.find((s) => !(SINK_KINDS as readonly string[]).includes(s));
  if (unknown !== undefined || sinks.length === 0)
    usage(`BENCH_SINKS: expected file, webhook or both, got "${process.env.BENCH_SINKS}"`);
  return { durationMs, concurrency, scenarios, backends, sinks: [...new Set(sinks)] as SinkKind[] };
}

interface ScenarioReport extends LoadResult {
  /**
   * a load scenario; signin-nosink / signin-sink: the two servers of the signin-sink scenario; signin-local /
   * signin-ldap: those of signin-ldap
   */
  name: string;
  backend: Backend;
  concurrency: number;
  /** HTTP requests per operation */
  requests: number;
  serverCpuMsPerOp: number;
  serverCpuSecondsPer1000: number;
  clientCpuMsPerOp: number;
  /** the load scenarios' warm-up before the measured windows */
  warmUp?: WarmUpResult;
  /** server CPU per operation of each measured window, in the order they ran: how far the machine drifted */
  windowsCpuMsPerOp?: number[];
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

function toReport(name: string, backend: Backend, concurrency: number, result: LoadResult): ScenarioReport {
  return {
    ...result,
    name,
    backend,
    concurrency,
    requests: name.startsWith('signin') ? 4 : name === 'saml' ? 3 : 1,
    serverCpuMsPerOp: result.serverCpuMs / result.ops,
    // s per 1,000 ops = ms per op: the same number in the two units the brief asks for
    serverCpuSecondsPer1000: result.serverCpuMs / 1000 / (result.ops / 1000),
    clientCpuMsPerOp: result.clientCpuMs / result.ops,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) =>
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
    )
    .join('\n');
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const duration = (name: ScenarioName) => options.durationMs ?? DEFAULTS.durationMs[name];
  const log = (line: string) => process.stderr.write(`${line}\n`);

  let bench: BenchEnvironment | undefined;
  /** the server processes running now: one, or two for two-nodes */
  let servers: RunningBenchServer[] = [];
  /** further servers, folders and receivers, undone in reverse order */
  const extra: Array<() => Promise<void> | void> = [];
  // One cleanup at a time, whoever asks (a signal, the end of the run): a server must be stopped before its folder
  // goes, or it writes into it again as it shuts down.
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      await Promise.all(servers.map((s) => s.stop()));
      servers = [];
      bench?.remove();
      bench = undefined;
      while (extra.length > 0) {
        try {
          await extra.pop()!();
        } catch (err) {
          log(`cleanup: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let argon2: Argon2Result | undefined;
  const reports: ScenarioReport[] = [];
  let steps: StepsResult | undefined;
  let audit: AuditResult | undefined;
  let auditScaled: AuditResult | undefined;
  let auditNodes: Awaited<ReturnType<typeof auditAppendsFromNodes>> | undefined;
  let policy: PolicyResult | undefined;
  let sink: SinkComparison | undefined;
  let ldap: LdapComparison | undefined;
  let failed: string | undefined;
  try {
    bench = await prepareEnvironment();
    const params = bench.loaded.config.passwords.argon2;
    // With signin, the verifies are measured in its windows, alternating with them.
    if (options.scenarios.has('argon2') && !options.scenarios.has('signin')) {
      log(
        `argon2id m=${params.memory_kib} KiB t=${params.iterations} p=${params.parallelism}: verifying for ${duration('argon2') / 1000} s ...`,
      );
      argon2 = await argon2Ceiling(params, duration('argon2'), machineCpuMs);
    }

    const load = LOAD_SCENARIOS.filter((s) => options.scenarios.has(s));
    const wantsServers = load.length > 0 || options.scenarios.has('steps');
    // two-nodes runs each scenario with twice the virtual users, each signed in as a user of its own
    const users = 2 * Math.max(options.concurrency ?? 0, ...Object.values(DEFAULTS.concurrency));
    const embedded = bench;
    /** A Redis + PostgreSQL store of the bench's own: a database, a key prefix, a folder; seeded. */
    const newScaled = async (): Promise<BenchEnvironment> => {
      const store = await createScaledStore();
      extra.push(() => store.drop());
      const env = await prepareEnvironment({ extraConfig: () => store.yaml });
      extra.push(() => env.remove());
      log(`redis+postgres: database ${store.database}, Redis key prefix ${store.redisPrefix}`);
      if (wantsServers) {
        log(`seeding ${users} users and a client in ${store.database} ...`);
        await seed(env, users);
      }
      return env;
    };
    /** made once and shared by scaled, two-nodes and two-split (the same data, one node or two); two-apart adds a second */
    let scaledEnv: Promise<BenchEnvironment> | undefined;
    const scaled = (): Promise<BenchEnvironment> => (scaledEnv ??= newScaled());

    /**
     * The server scenarios on one backend, or on several Redis + PostgreSQL backends at once: the nodes started (node
     * A on the shared store serves every backend of the family, B beside it two-nodes and two-split, C on a store of
     * its own two-apart), then each load scenario warmed up on every backend and measured in windows that take turns
     * between the backends (and, for signin, with argon2id's), so that each comparison sees the same minutes of a
     * shared machine; the nodes stopped.
     */
    const runServerScenarios = async (backends: Backend[]): Promise<void> => {
      const family = !backends.includes('embedded');
      const shared = family ? await scaled() : embedded;
      const own = backends.includes('two-apart') ? await newScaled() : undefined;
      const a = await startServer(shared);
      servers = [a];
      const b = backends.some((x) => x === 'two-nodes' || x === 'two-split')
        ? await startServer(shared, { port: await freePort() })
        : undefined;
      if (b) servers.push(b);
      const c = own ? await startServer(own) : undefined;
      if (c) servers.push(c);
      log(
        `${backends.map((x) => BACKEND_LABELS[x]).join(', ')}: server pid ${servers.map((n) => `${n.pid} on port ${n.port}`).join(', ')} ready`,
      );
      const nodesOf = (backend: Backend): RunningBenchServer[] =>
        backend === 'two-apart'
          ? [a, c!]
          : backend === 'two-nodes' || backend === 'two-split'
            ? [a, b!]
            : [a];
      const issuerOf = (node: RunningBenchServer) => (node === c ? own!.issuer : shared.issuer);
      const output = (nodes: RunningBenchServer[]) =>
        nodes.length === 1
          ? nodes[0]!.output()
          : nodes.map((n) => `--- node ${n.pid} ---\n${n.output()}`).join('\n');
      // every node's CPU: what two nodes cost together for the operations of the window
      const cpuOf = (nodes: RunningBenchServer[]) => (): ProcessCpu =>
        nodes
          .map((n) => n.cpuMs())
          .reduce((x, y) => ({ user: x.user + y.user, system: x.system + y.system, main: x.main + y.main }));
      const workloadOn = async (
        name: LoadScenario,
        http: HttpClient,
        issuer: string,
        concurrency: number,
      ): Promise<Workload> => {
        if (name === 'signin') return signInWorkload(http, issuer, concurrency);
        if (name === 'cc') return clientCredentialsWorkload(http, concurrency);
        if (name === 'refresh') return refreshWorkload(http, issuer, concurrency);
        if (name === 'saml') return samlWorkload(http, issuer, concurrency);
        return floorWorkload(http, name, concurrency);
      };
      const warmUpLog = (w: WarmUpResult) =>
        `warmed up for ${fmt(w.elapsedMs / 1000)} s (${w.ops} operations${w.settled ? '' : ', not settled'})`;

      interface Measured {
        backend: Backend;
        nodes: RunningBenchServer[];
        concurrency: number;
        workload: Workload;
        warm: WarmUpResult;
        windows: LoadResult[];
      }
      for (const name of load) {
        const clients: HttpClient[] = [];
        const measured: Measured[] = [];
        let current: Backend | undefined;
        try {
          for (const backend of backends) {
            current = backend;
            const nodes = nodesOf(backend);
            const label = BACKEND_LABELS[backend];
            const concurrency =
              (options.concurrency ?? DEFAULTS.concurrency[name]) *
              (LOAD_PER_NODE.has(backend) ? nodes.length : 1);
            let workload: Workload;
            if (backend === 'two-apart') {
              // a workload per node, on its own store; virtual user vu stays with node vu % 2
              const share = Math.ceil(concurrency / nodes.length);
              const parts = await Promise.all(
                nodes.map((n) => {
                  const http = new HttpClient(n.port, n.hostHeader, share);
                  clients.push(http);
                  return workloadOn(name, http, issuerOf(n), share);
                }),
              );
              workload = {
                name,
                concurrency,
                op: (vu) => parts[vu % parts.length]!.op(Math.floor(vu / parts.length)),
              };
            } else {
              const http =
                nodes.length === 1
                  ? new HttpClient(a.port, a.hostHeader, concurrency)
                  : new BalancedHttpClient(
                      nodes.map((n) => n.port),
                      a.hostHeader,
                      concurrency,
                    );
              clients.push(http);
              workload = await workloadOn(name, http, shared.issuer, concurrency);
            }
            // Each node compiles and warms its own code: as much warm-up per node as one node gets, or two nodes
            // would be measured colder than one.
            log(`${name} (${label}): concurrency ${concurrency}, warming up ...`);
            const bounds = WARM_UP[name];
            const warm = await warmUp(workload, {
              windowMs: bounds.windowMs * nodes.length,
              minMs: bounds.minMs * nodes.length,
              maxMs: bounds.maxMs * nodes.length,
              serverCpuMs: cpuOf(nodes),
            });
            if (warm.errors > 0) throw new Error(warm.firstError);
            log(`${name} (${label}): ${warmUpLog(warm)}`);
            measured.push({ backend, nodes, concurrency, workload, warm, windows: [] });
          }
          current = undefined;
          // With signin, argon2id's verifies take turns with the windows too: its target compares the two.
          const withArgon2 = name === 'signin' && (backends.includes('embedded') || !argon2);
          const rounds = SIGNIN_ROUNDS;
          const windowMs = duration(name) / rounds;
          log(
            `${name}: ${rounds} rounds of ${windowMs / 1000} s on ${backends.map((x) => BACKEND_LABELS[x]).join(', ')} in turn` +
              (withArgon2
                ? `, each after argon2id verifies in this process (m=${params.memory_kib} KiB t=${params.iterations} ` +
                  `p=${params.parallelism}) for ${duration('argon2') / rounds / 1000} s`
                : '') +
              ' ...',
          );
          const verifies: Argon2Result[] = [];
          rounds: for (let round = 0; round < rounds; round++) {
            if (withArgon2)
              verifies.push(await argon2Ceiling(params, duration('argon2') / rounds, machineCpuMs));
            for (const m of measured) {
              current = m.backend;
              // a short warm-up first: the verifies, or the other backends' windows, evicted this one's caches
              const window = await runLoad(m.workload, {
                warmupMs: measured.length === 1 && round === 0 && !withArgon2 ? 0 : SIGNIN_REWARM_MS,
                durationMs: windowMs,
                serverCpuMs: cpuOf(m.nodes),
                machineCpuMs,
                ...(m.backend === 'embedded' ? {} : { storeCpuMs: storeServersCpuMs }),
              });
              m.windows.push(window);
              if (window.errors > 0) break rounds;
            }
          }
          current = undefined;
          // the reference of the sign-in target is the embedded store's (the one the issue's target is about)
          if (withArgon2) argon2 = mergeArgon2Results(verifies);
          for (const m of measured) {
            const result = mergeLoadResults(m.windows);
            reports.push({
              ...toReport(name, m.backend, m.concurrency, result),
              warmUp: m.warm,
              windowsCpuMsPerOp: m.windows.map((w) => w.serverCpuMs / w.ops),
            });
            if (result.errors > 0) {
              failed ??= `${name} (${BACKEND_LABELS[m.backend]}): ${result.errors} error(s); first: ${result.firstError}\n--- server output (tail) ---\n${output(m.nodes)}`;
            }
          }
        } catch (err) {
          const nodes = current ? nodesOf(current) : servers;
          failed ??= `${name}${current ? ` (${BACKEND_LABELS[current]})` : ''}: ${err instanceof Error ? err.message : String(err)}\n--- server output (tail) ---\n${output(nodes)}`;
        } finally {
          for (const http of clients) http.close();
        }
      }
      const nodes = servers;
      const backend = backends[0]!;
      const server = nodes[0]!;
      if (options.scenarios.has('steps') && backend === 'embedded') {
        const http = new HttpClient(server.port, server.hostHeader, 1);
        try {
          log(`steps: one request at a time for ${duration('steps') / 1000} s ...`);
          const one = (w: Workload) => () => w.op(0);
          steps = await measureSteps(http, server.issuer, server.threadsCpuNs, duration('steps'), [
            { name: 'cc: POST /token', op: one(clientCredentialsWorkload(http, 1)) },
            { name: 'refresh: POST /token', op: one(await refreshWorkload(http, server.issuer, 1)) },
            { name: 'healthz: GET /healthz', op: one(floorWorkload(http, 'healthz', 1)) },
            { name: 'discovery: GET /.well-known/…', op: one(floorWorkload(http, 'discovery', 1)) },
          ]);
        } catch (err) {
          failed ??= `steps: ${err instanceof Error ? err.message : String(err)}\n--- server output (tail) ---\n${server.output()}`;
        } finally {
          http.close();
        }
      }
      // The scenarios after this bring their own stores and servers: these are done.
      await Promise.all(nodes.map((n) => n.stop()));
      servers = [];
    };

    /** Audit appends in this process on one backend's store, then the chain verified. */
    const runAudit = async (backend: Backend): Promise<void> => {
      const phases = `${duration('audit') / 1000} s one at a time + ${duration('audit') / 1000} s in batches of 8`;
      if (backend === 'embedded') {
        // a fresh store: verify must find exactly what was appended
        const env = await prepareEnvironment();
        extra.push(() => env.remove());
        log(
          `audit (embedded): appending signin.password events in this process, ${phases}, then verifying ...`,
        );
        audit = await auditAppends(env.loaded, duration('audit'), { machineCpuMs });
        if (audit.verify.ok && audit.verify.events !== audit.appended)
          failed ??= `audit: ${audit.appended} events appended, but verify found ${audit.verify.events}`;
      } else if (backend === 'scaled') {
        log(`audit (redis+postgres): appending in this process, ${phases}, then verifying ...`);
        auditScaled = await auditAppends((await scaled()).loaded, duration('audit'), {
          machineCpuMs,
          storeCpuMs: storeServersCpuMs,
        });
      } else {
        log(
          `audit (two nodes): two stores opened side by side in this process, each appending one at a time for ${duration('audit') / 1000} s, then verifying ...`,
        );
        auditNodes = await auditAppendsFromNodes((await scaled()).loaded, 2, duration('audit'), {
          machineCpuMs,
          storeCpuMs: storeServersCpuMs,
        });
      }
      const result = backend === 'embedded' ? audit : backend === 'scaled' ? auditScaled : auditNodes;
      if (result && !result.verify.ok) {
        const p = result.verify.problem;
        failed ??= `audit (${BACKEND_LABELS[backend]}): the chain does not verify: ${p ? `at ${p.seq}: ${p.problem}` : 'no reason given'}`;
      }
    };

    // embedded on its own, then the Redis + PostgreSQL backends together (their windows take turns)
    const groups = [
      BACKENDS.filter((b) => b === 'embedded' && options.backends.has(b)),
      BACKENDS.filter((b) => b !== 'embedded' && options.backends.has(b)),
    ].filter((group) => group.length > 0);
    for (const group of groups) {
      try {
        if (wantsServers) {
          if (group.includes('embedded')) {
            log(`seeding ${users} users and a client in ${embedded.dir} ...`);
            await seed(embedded, users);
          }
          await runServerScenarios(group);
        }
        for (const backend of group) {
          if (options.scenarios.has('audit') && backend !== 'two-apart' && backend !== 'two-split')
            await runAudit(backend);
        }
      } catch (err) {
        failed ??= `${group.map((b) => BACKEND_LABELS[b]).join(', ')}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}${servers.length > 0 ? `\n--- server output (tail) ---\n${servers.map((n) => n.output()).join('\n')}` : ''}`;
        await Promise.all(servers.map((n) => n.stop()));
        servers = [];
      }
    }

    if (options.scenarios.has('policy')) {
      log(
        `policy: deciding with 50 rules in this process, ${duration('policy') / 1000} s after a 0.5 s warm-up ...`,
      );
      try {
        policy = policyDecisions(duration('policy'), machineCpuMs);
        // as the throughput test: some attempts are denied, not all (the policy really decides)
        const { allow, mfa, deny } = policy.outcomes;
        if (deny === 0 || deny === policy.decisions)
          failed ??= `policy: expected some denials and some not, got allow ${allow}, mfa ${mfa}, deny ${deny}`;
      } catch (err) {
        failed ??= `policy: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
      }
    }

    if (options.scenarios.has('signin-sink')) {
      const concurrency = options.concurrency ?? DEFAULTS.concurrency['signin-sink'];
      try {
        sink = await signInSinkComparison({
          sinks: options.sinks,
          concurrency,
          durationMs: duration('signin-sink'),
          warmupMs: DEFAULTS.warmupMs,
          users: concurrency,
          log,
          onCleanup: (fn) => extra.push(fn),
        });
        reports.push(toReport('signin-nosink', 'embedded', concurrency, sink.plain));
        reports.push(toReport('signin-sink', 'embedded', concurrency, sink.sinked));
        const errors = [sink.plain, sink.sinked].find((r) => r.errors > 0);
        if (errors) {
          failed ??=
            `signin-sink: ${errors.errors} error(s); first: ${errors.firstError}\n` +
            `--- server without sinks (tail) ---\n${sink.output.plain}\n--- server with sinks (tail) ---\n${sink.output.sinked}`;
        } else if (!sink.delivered) {
          failed ??=
            `signin-sink: the sinks did not receive every event within 5 s: ${sink.signIns} sign-ins × ${EVENTS_PER_SIGNIN} = ` +
            `${sink.expectedEvents} events, file ${sink.fileEvents}, webhook ${sink.webhookEvents}\n` +
            `--- server with sinks (tail) ---\n${sink.output.sinked}`;
        }
      } catch (err) {
        failed ??= `signin-sink: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
      }
    }

    if (options.scenarios.has('signin-ldap')) {
      const concurrency = options.concurrency ?? DEFAULTS.concurrency['signin-ldap'];
      try {
        ldap = await signInLdapComparison({
          concurrency,
          durationMs: duration('signin-ldap'),
          warmupMs: DEFAULTS.warmupMs,
          users: concurrency,
          log,
          onCleanup: (fn) => extra.push(fn),
        });
        reports.push(toReport('signin-local', 'embedded', concurrency, ldap.local));
        reports.push(toReport('signin-ldap', 'embedded', concurrency, ldap.ldap));
        const errors = [ldap.local, ldap.ldap].find((r) => r.errors > 0);
        if (errors) {
          failed ??=
            `signin-ldap: ${errors.errors} error(s); first: ${errors.firstError}\n` +
            `--- server with local users (tail) ---\n${ldap.output.local}\n--- server with LDAP users (tail) ---\n${ldap.output.ldap}`;
        }
      } catch (err) {
        failed ??= `signin-ldap: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
      }
    }
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  // ---- report ----
  const out: string[] = [];
  out.push('');
  out.push(
    `Poort benchmark: Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? '?'}), CLK_TCK ${clockTicksPerSecond()}`,
  );
  if (argon2) {
    const p = argon2.params;
    out.push('');
    out.push(
      `argon2id (m=${p.memory_kib} KiB, t=${p.iterations}, p=${p.parallelism}), sequential verifies on one core` +
        `${reports.some((r) => r.name === 'signin') ? `, in ${SIGNIN_ROUNDS} windows alternating with signin's` : ''}:`,
    );
    out.push(
      `  ${argon2.verifies} verifies in ${fmt(argon2.elapsedMs / 1000, 2)} s = ${fmt(argon2.rate)} /s; ${fmt(argon2.p50Ms)} ms wall (p50), ${fmt(argon2.cpuMsPerVerify, 2)} ms CPU per verify`,
    );
    out.push(
      `  CPU-bound ceiling of one core: 1000 / ${fmt(argon2.cpuMsPerVerify, 2)} ms = ${fmt(1000 / argon2.cpuMsPerVerify)} /s; ` +
        `other processes used ${fmt(argon2.otherCpuShare * 100, 0)}% of the machine meanwhile`,
    );
  }
  if (reports.length > 0) {
    out.push('');
    const rows = [
      [
        'scenario',
        'backend',
        'conc',
        'req/op',
        'ops',
        'ops/s',
        'p50 ms',
        'p99 ms',
        'srv CPU s/1k ops',
        'srv CPU ms/op',
        'main thr',
        'other thr',
        'of it sys',
        'store CPU ms/op',
        'gen CPU ms/op',
        'other load',
        'errors',
      ],
      ...reports.map((r) => [
        r.name,
        BACKEND_LABELS[r.backend],
        String(r.concurrency),
        String(r.requests),
        String(r.ops),
        fmt(r.rate),
        fmt(r.p50Ms),
        fmt(r.p99Ms),
        fmt(r.serverCpuSecondsPer1000, 2),
        fmt(r.serverCpuMsPerOp, 3),
        fmt(r.serverMainMs / r.ops, 3),
        fmt((r.serverCpuMs - r.serverMainMs) / r.ops, 3),
        `${fmt((r.serverSystemMs / r.serverCpuMs) * 100, 0)}%`,
        fmt(r.storeCpuMs / r.ops, 3),
        fmt(r.clientCpuMsPerOp, 3),
        `${fmt(r.otherCpuShare * 100, 0)}%`,
        String(r.errors),
      ]),
    ];
    out.push(table(rows));
    out.push(
      '  srv CPU: the server child (all threads; on two nodes both children), /proc/<pid>/stat utime+stime (of it sys:',
    );
    out.push('  stime share); Redis and PostgreSQL are not in it: they are store CPU;');
    out.push(
      '  main thr: JavaScript, HTTP, synchronous SQLite; other thr: libuv pool (argon2, WebCrypto), V8 helpers (GC);',
    );
    out.push(
      "  store CPU: the Redis and PostgreSQL servers' processes (on the embedded store, SQLite is in the server's CPU);",
    );
    out.push('  gen CPU: this load generator;');
    out.push(
      '  other load: CPU of other processes during the window (not the store servers), share of all cores.',
    );
    const warmed = reports.filter((r) => r.warmUp !== undefined);
    if (warmed.length > 0) {
      out.push('');
      out.push(
        `Warm-up before each measurement: until the server's main-thread CPU per operation of two windows in a row ` +
          `was no longer ${WARM_SETTLED_SHARE * 100}% below the two before (V8 optimises a handler only after thousands of runs):`,
      );
      out.push(
        table([
          ['scenario', 'backend', 'seconds', 'ops', 'main thr ms/op: first window', 'last window', 'settled'],
          ...warmed.map((r) => {
            const w = r.warmUp!;
            return [
              r.name,
              BACKEND_LABELS[r.backend],
              fmt(w.elapsedMs / 1000),
              String(w.ops),
              fmt(w.mainMsPerOp[0] ?? NaN, 3),
              fmt(w.mainMsPerOp.at(-1) ?? NaN, 3),
              w.settled ? 'yes' : 'no (at its limit)',
            ];
          }),
        ]).replace(/^/gm, '  '),
      );
    }
    const noisy: string[] = reports
      .filter((r) => r.otherCpuShare > NOISY_SHARE)
      .map((r) => (r.backend === 'embedded' ? r.name : `${r.name} (${BACKEND_LABELS[r.backend]})`));
    if (argon2 && argon2.otherCpuShare > NOISY_SHARE) noisy.unshift('argon2');
    if (noisy.length > 0) {
      out.push(
        `  WARNING: other processes used over ${NOISY_SHARE * 100}% of the machine during ${noisy.join(', ')}: rates, latencies and even ` +
          'CPU per operation (shared caches and cores) are skewed; rerun on a quiet machine.',
      );
    }
  }

  if (steps && steps.signIns > 0) {
    const n = steps.signIns;
    out.push('');
    out.push(`Server CPU per request, one request at a time (schedstat; ${n} sign-ins):`);
    const total = steps.signInSteps.reduce(
      (acc, s) => ({
        main: acc.main + (s.mainMs * s.count) / n,
        others: acc.others + (s.othersMs * s.count) / n,
      }),
      { main: 0, others: 0 },
    );
    const row = (name: string, perSignIn: string, main: number, others: number) => [
      name,
      perSignIn,
      fmt(main, 3),
      fmt(others, 3),
      fmt(main + others, 3),
    ];
    out.push(
      table([
        ['request', 'per sign-in', 'main thr ms', 'other thr ms', 'total ms'],
        ...steps.signInSteps.map((s) => row(`  ${s.step}`, fmt(s.count / n, 1), s.mainMs, s.othersMs)),
        row('whole sign-in', '', total.main, total.others),
        ...steps.single.map((s) => row(s.step, '', s.mainMs, s.othersMs)),
      ]),
    );
  }

  const auditVerifyLine = (v: AuditResult['verify'], appended: number, verifyMs: number) =>
    `  verify: ${v.ok ? 'ok' : `FAILED at ${v.problem?.seq}: ${v.problem?.problem}`}, ${v.events} events ` +
    `(${appended} appended here, warm-up included) in ${fmt(verifyMs / 1000, 2)} s`;
  const auditRow = (label: string, p: AppendPhase) => [
    label,
    String(p.appends),
    fmt(p.elapsedMs / 1000, 2),
    fmt(p.rate, 0),
    fmt(p.cpuUsPerAppend, 1),
    fmt(p.storeCpuUsPerAppend, 1),
    fmt(p.p50Us, 0),
    fmt(p.p99Us, 0),
    `${fmt(p.otherCpuShare * 100, 0)}%`,
  ];
  const auditHeader = [
    'appenders',
    'appends',
    's',
    'appends/s',
    'CPU µs/append',
    'store CPU µs',
    'p50 µs',
    'p99 µs',
    'other load',
  ];
  const auditPhases: AppendPhase[] = [];
  for (const [label, result] of [
    ['the embedded store', audit],
    ['Redis + PostgreSQL', auditScaled],
  ] as const) {
    if (!result) continue;
    out.push('');
    out.push(`Audit appends on ${label} (this process, no server; signin.password events):`);
    out.push(
      table([
        auditHeader,
        auditRow('1, each awaited', result.sequential),
        auditRow(`${result.concurrent.appenders}, Promise.all batches`, result.concurrent),
      ]),
    );
    out.push(
      "  CPU: this process (process.cpuUsage); store CPU: Redis's and PostgreSQL's per append; p50/p99: wall time of one",
    );
    out.push('  await (an append, or a batch);');
    out.push(auditVerifyLine(result.verify, result.appended, result.verifyMs));
    auditPhases.push(result.sequential, result.concurrent);
  }
  if (auditNodes) {
    out.push('');
    out.push(
      'Audit appends from two nodes on Redis + PostgreSQL (two stores opened side by side in this process, each with its own pool):',
    );
    out.push(table([auditHeader, auditRow('2, one per node, each awaited', auditNodes.phase)]));
    out.push(auditVerifyLine(auditNodes.verify, auditNodes.appended, auditNodes.verifyMs));
    auditPhases.push(auditNodes.phase);
  }
  if (auditPhases.some((p) => p.otherCpuShare > NOISY_SHARE)) {
    out.push(
      `  WARNING: other processes used over ${NOISY_SHARE * 100}% of the machine meanwhile: rerun on a quiet machine.`,
    );
  }

  if (policy) {
    const p = policy;
    out.push('');
    out.push(
      `Policy decisions (this process, one thread; ${p.rules} rules compiled once, ${p.contexts} attempts in turn):`,
    );
    out.push(
      `  ${p.decisions} decisions in ${fmt(p.elapsedMs / 1000, 2)} s = ${fmt(p.rate, 0)} /s; ${fmt(p.usPerDecision, 2)} µs per decision, ` +
        `${fmt(p.cpuUsPerDecision, 2)} µs CPU; outcomes allow ${p.outcomes.allow}, mfa ${p.outcomes.mfa}, deny ${p.outcomes.deny}; ` +
        `trace read on ${p.traces} (one in 1024); other load ${fmt(p.otherCpuShare * 100, 0)}%`,
    );
    if (p.otherCpuShare > NOISY_SHARE) {
      out.push(
        `  WARNING: other processes used over ${NOISY_SHARE * 100}% of the machine meanwhile: rerun on a quiet machine.`,
      );
    }
  }

  const plain = reports.find((r) => r.name === 'signin-nosink');
  const sinked = reports.find((r) => r.name === 'signin-sink');
  const sinkOk =
    sink && plain && sinked && plain.ops > 0 && sinked.ops > 0 && !plain.errors && !sinked.errors;
  const sinkDiffPct = plain && sinked ? (sinked.rate / plain.rate - 1) * 100 : NaN;
  if (sink && plain && sinked) {
    out.push('');
    out.push(
      `Sign-ins with audit sinks (${sink.sinks.join(' + ')}${sink.sinks.includes('webhook') ? '; the webhook to a receiver in this process on loopback' : ''}), signin-nosink vs signin-sink ` +
        `above: ${sink.rounds} windows of ${fmt(sink.windowMs / 1000, 1)} s per server, alternating:`,
    );
    out.push(
      `  ${fmt(plain.rate)} /s without sinks, ${fmt(sinked.rate)} /s with them: ${sinkDiffPct >= 0 ? '+' : ''}${fmt(sinkDiffPct)}%; ` +
        `server CPU per sign-in ${fmt(plain.serverCpuMsPerOp, 2)} vs ${fmt(sinked.serverCpuMsPerOp, 2)} ms ` +
        `(${sinked.serverCpuMsPerOp >= plain.serverCpuMsPerOp ? '+' : ''}${fmt((sinked.serverCpuMsPerOp / plain.serverCpuMsPerOp - 1) * 100)}%)`,
    );
    out.push(
      `  delivered: ${sink.delivered ? 'yes' : 'NO'}; ${sink.signIns} sign-ins (warm-up included) × ${EVENTS_PER_SIGNIN} = ${sink.expectedEvents} events; ` +
        [
          ...(sink.sinks.includes('file') ? [`file sink ${sink.fileEvents} lines`] : []),
          ...(sink.sinks.includes('webhook')
            ? [`webhook ${sink.webhookEvents} events in ${sink.webhookRequests} requests`]
            : []),
        ].join(', ') +
        '; ' +
        `longest wait for the shipper after a window ${fmt(sink.maxCatchUpMs, 0)} ms`,
    );
  }

  const localSignIn = reports.find((r) => r.name === 'signin-local');
  const ldapSignIn = reports.find((r) => r.name === 'signin-ldap');
  if (ldap && localSignIn && ldapSignIn && localSignIn.ops > 0 && ldapSignIn.ops > 0) {
    out.push('');
    out.push(
      'Sign-ins of LDAP users (a slapd on loopback: search, bind as the entry, group search; the row kept in line) ' +
        'vs local users, signin-local vs signin-ldap above, alternating windows:',
    );
    out.push(
      `  ${fmt(localSignIn.rate)} /s local, ${fmt(ldapSignIn.rate)} /s LDAP; server CPU per sign-in ` +
        `${fmt(localSignIn.serverCpuMsPerOp, 2)} vs ${fmt(ldapSignIn.serverCpuMsPerOp, 2)} ms ` +
        `(${ldapSignIn.serverCpuMsPerOp >= localSignIn.serverCpuMsPerOp ? '+' : ''}${fmt((ldapSignIn.serverCpuMsPerOp / localSignIn.serverCpuMsPerOp - 1) * 100)}%); ` +
        `slapd's own CPU ${fmt(ldap.slapdCpuMsPerOp, 2)} ms per LDAP sign-in`,
    );
  }

  const signin = reports.find((r) => r.name === 'signin' && r.backend === 'embedded');
  const cc = reports.find((r) => r.name === 'cc' && r.backend === 'embedded');
  const targets: Array<{
    name: string;
    limit: number;
    actual: number;
    met: boolean;
    /** ms/op: at most the limit; /s: at least the limit; %: a change of at least the (negative) limit; x: a ratio of at most the limit */
    unit: 'ms/op' | '/s' | '%' | 'x';
  }> = [];
  // A scenario with errors measured a broken flow: its figures are shown but not judged.
  if (signin && argon2 && signin.ops > 0 && signin.errors === 0) {
    out.push('');
    out.push(
      `sign-ins/s ÷ argon2 verifies/s on one core = ${fmt(signin.rate)} ÷ ${fmt(argon2.rate)} = ${fmt(signin.rate / argon2.rate, 2)} ` +
        `(this machine has ${os.cpus().length} cores, shared with the load generator)`,
    );
    out.push(
      `sign-in server CPU ÷ argon2 CPU per verify = ${fmt(signin.serverCpuMsPerOp, 2)} ÷ ${fmt(argon2.cpuMsPerVerify, 2)} = ${fmt(signin.serverCpuMsPerOp / argon2.cpuMsPerVerify, 2)}`,
    );
    const limit = SIGNIN_CPU_BUDGET * argon2.cpuMsPerVerify;
    targets.push({
      name: `sign-in server CPU <= ${SIGNIN_CPU_BUDGET} x argon2id verify CPU`,
      limit,
      actual: signin.serverCpuMsPerOp,
      met: signin.serverCpuMsPerOp <= limit,
      unit: 'ms/op',
    });
  }
  if (cc && cc.ops > 0 && cc.errors === 0) {
    targets.push({
      name: 'client-credentials server CPU',
      limit: CC_CPU_BUDGET_MS,
      actual: cc.serverCpuMsPerOp,
      met: cc.serverCpuMsPerOp <= CC_CPU_BUDGET_MS,
      unit: 'ms/op',
    });
  }
  if (audit && audit.sequential.appends > 0) {
    targets.push({
      name: 'audit appends per second on the embedded store, each awaited',
      limit: AUDIT_APPENDS_PER_SECOND,
      actual: audit.sequential.rate,
      met: audit.sequential.rate >= AUDIT_APPENDS_PER_SECOND,
      unit: '/s',
    });
  }
  if (policy && policy.decisions > 0) {
    targets.push({
      name: `policy decisions per second with ${policy.rules} rules`,
      limit: POLICY_DECISIONS_PER_SECOND,
      actual: policy.rate,
      met: policy.rate >= POLICY_DECISIONS_PER_SECOND,
      unit: '/s',
    });
  }
  if (sink && sinkOk) {
    targets.push({
      name: `sign-in throughput with the audit sinks (${sink.sinks.join(' + ')}) enabled within ${SINK_SLOWDOWN_LIMIT * 100}% of disabled`,
      limit: -SINK_SLOWDOWN_LIMIT * 100,
      actual: sinkDiffPct,
      met: sinkDiffPct >= -SINK_SLOWDOWN_LIMIT * 100,
      unit: '%',
    });
  }
  // One table across the backends: per scenario, operations per second and server CPU per 1,000 operations.
  const ran = BACKENDS.filter((b) => options.backends.has(b));
  type Cell = { rate: number; cpuPer1000: number } | undefined;
  const sideRows: Array<{ name: string; cells: Partial<Record<Backend, Cell>> }> = [];
  if (argon2) {
    // no store, no server: the same reference for every backend
    const cell = { rate: argon2.rate, cpuPer1000: argon2.cpuMsPerVerify };
    sideRows.push({
      name: 'argon2 verify (reference)',
      cells: Object.fromEntries(ran.map((b) => [b, cell])),
    });
  }
  for (const name of LOAD_SCENARIOS) {
    const cells: Partial<Record<Backend, Cell>> = {};
    for (const b of ran) {
      const r = reports.find((x) => x.name === name && x.backend === b && x.ops > 0 && x.errors === 0);
      if (r) cells[b] = { rate: r.rate, cpuPer1000: r.serverCpuSecondsPer1000 };
    }
    if (Object.keys(cells).length > 0) sideRows.push({ name, cells });
  }
  const appendCell = (p: AppendPhase | undefined): Cell =>
    p && p.appends > 0 ? { rate: p.rate, cpuPer1000: p.cpuUsPerAppend / 1000 } : undefined;
  const auditCells: Partial<Record<Backend, Cell>> = {
    embedded: appendCell(audit?.sequential),
    scaled: appendCell(auditScaled?.sequential),
    'two-nodes': appendCell(auditNodes?.phase),
  };
  if (ran.some((b) => auditCells[b])) sideRows.push({ name: 'audit append', cells: auditCells });
  const twoNodeRatio = (row: (typeof sideRows)[number]) => {
    const one = row.cells.scaled;
    const two = row.cells['two-nodes'];
    return one && two && !row.name.startsWith('argon2') ? two.cpuPer1000 / one.cpuPer1000 : NaN;
  };
  /** one node's load split over two nodes ÷ one node: what a node half as busy costs per operation */
  const splitRatio = (row: (typeof sideRows)[number]) => {
    const one = row.cells.scaled;
    const split = row.cells['two-split'];
    return one && split && !row.name.startsWith('argon2') ? split.cpuPer1000 / one.cpuPer1000 : NaN;
  };
  /** two nodes sharing the store ÷ two nodes each on its own: what sharing costs, the processes' own cost taken out */
  const sharingRatio = (row: (typeof sideRows)[number]) => {
    const apart = row.cells['two-apart'];
    const two = row.cells['two-nodes'];
    return apart && two && !row.name.startsWith('argon2') ? two.cpuPer1000 / apart.cpuPer1000 : NaN;
  };
  const withSharing = ran.includes('two-nodes') && ran.includes('two-apart');
  const sideBySide = sideRows.map((row) => ({
    scenario: row.name,
    ...Object.fromEntries(
      ran.map((b) => [
        b,
        row.cells[b]
          ? { perSecond: round(row.cells[b].rate), cpuSecondsPer1000: round(row.cells[b].cpuPer1000, 3) }
          : null,
      ]),
    ),
    twoNodesToOneNodeCpu: round(twoNodeRatio(row), 3),
    twoNodesToTwoApartCpu: round(sharingRatio(row), 3),
    twoSplitToOneNodeCpu: round(splitRatio(row), 3),
  }));
  const withSplit = ran.includes('scaled') && ran.includes('two-split');
  if (sideRows.length > 0 && ran.length > 1) {
    out.push('');
    out.push('Side by side: ops/s and server CPU-seconds per 1,000 operations on each backend:');
    out.push(
      table([
        [
          'scenario',
          ...ran.flatMap((b) => [`${BACKEND_LABELS[b]} ops/s`, 'CPU s/1k']),
          ...(ran.includes('scaled') && ran.includes('two-nodes') ? ['2 nodes ÷ 1 node CPU'] : []),
          ...(withSharing ? ['2 nodes ÷ 2 apart CPU'] : []),
          ...(withSplit ? ['2 split ÷ 1 node CPU'] : []),
        ],
        ...sideRows.map((row) => [
          row.name,
          ...ran.flatMap((b) => {
            const c = row.cells[b];
            return c ? [fmt(c.rate), fmt(c.cpuPer1000, 3)] : ['-', '-'];
          }),
          ...(ran.includes('scaled') && ran.includes('two-nodes') ? [fmt(twoNodeRatio(row), 2)] : []),
          ...(withSharing ? [fmt(sharingRatio(row), 2)] : []),
          ...(withSplit ? [fmt(splitRatio(row), 2)] : []),
        ]),
      ]),
    );
    out.push(
      '  CPU: every Poort server process of the backend (two nodes: both together), not Redis or PostgreSQL; audit append:',
    );
    out.push(
      '  this process appending one at a time (two nodes: two stores side by side, both appending); argon2: one core, no store.',
    );
    out.push(
      "  two nodes and two apart: each node with one node's virtual users (twice the load in all); two split: one node's",
    );
    out.push('  virtual users shared by two nodes on the same store.');
    if (withSharing)
      out.push(
        '  2 nodes ÷ 2 apart: the same two processes and load, sharing one store or each on its own: the cost of sharing.',
      );
    if (withSplit)
      out.push(
        '  2 split ÷ 1 node: the same load on two nodes, each half as busy: fewer requests share each turn of the event loop',
        '  and each round trip to Redis and PostgreSQL (group commits, pipelining), so each costs more (not a target).',
      );
  }
  for (const row of sideRows) {
    const ratio = twoNodeRatio(row);
    if (!Number.isFinite(ratio)) continue;
    targets.push({
      name: `${row.name}: server CPU per operation on two nodes within ${TWO_NODE_CPU_LIMIT * 100}% of one node's (redis+postgres)`,
      limit: 1 + TWO_NODE_CPU_LIMIT,
      actual: ratio,
      met: ratio <= 1 + TWO_NODE_CPU_LIMIT,
      unit: 'x',
    });
    const sharing = sharingRatio(row);
    if (!Number.isFinite(sharing)) continue;
    targets.push({
      name: `${row.name}: server CPU per operation on two nodes sharing the store within ${TWO_NODE_CPU_LIMIT * 100}% of two nodes apart (coordination)`,
      limit: 1 + TWO_NODE_CPU_LIMIT,
      actual: sharing,
      met: sharing <= 1 + TWO_NODE_CPU_LIMIT,
      unit: 'x',
    });
  }
  if (targets.length > 0) {
    out.push('');
    out.push('Targets:');
    for (const t of targets) {
      const mark = t.met ? 'MET    ' : 'NOT MET';
      if (t.unit === 'ms/op') {
        out.push(
          `  ${mark}  ${t.name}: ${fmt(t.actual, 3)} ms/op (limit ${fmt(t.limit, 3)} ms/op, ${fmt(t.actual / t.limit, 2)}x of it)`,
        );
      } else if (t.unit === 'x') {
        out.push(`  ${mark}  ${t.name}: ${fmt(t.actual, 2)}x (at most ${fmt(t.limit, 2)}x)`);
      } else if (t.unit === '/s') {
        out.push(
          `  ${mark}  ${t.name}: ${fmt(t.actual, 0)} /s (at least ${fmt(t.limit, 0)} /s, ${fmt(t.actual / t.limit, 2)}x of it)`,
        );
      } else {
        out.push(
          `  ${mark}  ${t.name}: ${fmt(sinked!.rate)} vs ${fmt(plain!.rate)} /s = ${t.actual >= 0 ? '+' : ''}${fmt(t.actual)}% (at least ${fmt(t.limit, 0)}%)`,
        );
      }
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (failed) process.stderr.write(`\nbench: FAILED: ${failed}\n`);

  const json = {
    node: process.version,
    cpus: os.cpus().length,
    clkTck: clockTicksPerSecond(),
    argon2: argon2 && {
      params: argon2.params,
      verifies: argon2.verifies,
      perSecond: round(argon2.rate),
      cpuMsPerVerify: round(argon2.cpuMsPerVerify, 3),
      cpuBoundPerSecond: round(1000 / argon2.cpuMsPerVerify),
      otherCpuShare: round(argon2.otherCpuShare, 2),
      p50Ms: round(argon2.p50Ms),
    },
    // embedded under the scenario's name, as before the backends; the others as name/backend
    scenarios: Object.fromEntries(
      reports.map((r) => [
        r.backend === 'embedded' ? r.name : `${r.name}/${r.backend}`,
        {
          backend: r.backend,
          concurrency: r.concurrency,
          ops: r.ops,
          errors: r.errors,
          seconds: round(r.elapsedMs / 1000, 2),
          perSecond: round(r.rate),
          p50Ms: round(r.p50Ms),
          p99Ms: round(r.p99Ms),
          serverCpuSecondsPer1000: round(r.serverCpuSecondsPer1000, 3),
          serverCpuMsPerOp: round(r.serverCpuMsPerOp, 3),
          serverSystemMsPerOp: round(r.serverSystemMs / r.ops, 3),
          serverMainThreadMsPerOp: round(r.serverMainMs / r.ops, 3),
          serverOtherThreadsMsPerOp: round((r.serverCpuMs - r.serverMainMs) / r.ops, 3),
          storeCpuMsPerOp: round(r.storeCpuMs / r.ops, 3),
          clientCpuMsPerOp: round(r.clientCpuMsPerOp, 3),
          otherCpuShare: round(r.otherCpuShare, 2),
          warmUp: r.warmUp && {
            seconds: round(r.warmUp.elapsedMs / 1000, 1),
            ops: r.warmUp.ops,
            settled: r.warmUp.settled,
            mainThreadMsPerOp: r.warmUp.mainMsPerOp.map((ms) => round(ms, 3)),
          },
          windowsCpuMsPerOp: r.windowsCpuMsPerOp?.map((ms) => round(ms, 3)),
        },
      ]),
    ),
    steps: steps && {
      signIns: steps.signIns,
      signInRequests: steps.signInSteps.map((s) => ({
        step: s.step,
        perSignIn: round(s.count / steps!.signIns, 2),
        mainMs: round(s.mainMs, 3),
        othersMs: round(s.othersMs, 3),
      })),
      single: steps.single.map((s) => ({
        step: s.step,
        count: s.count,
        mainMs: round(s.mainMs, 3),
        othersMs: round(s.othersMs, 3),
      })),
    },
    audit: audit && {
      sequential: appendJson(audit.sequential),
      concurrent: appendJson(audit.concurrent),
      appended: audit.appended,
      verify: { ok: audit.verify.ok, events: audit.verify.events, problem: audit.verify.problem },
      verifySeconds: round(audit.verifyMs / 1000, 2),
    },
    auditScaled: auditScaled && {
      sequential: appendJson(auditScaled.sequential),
      concurrent: appendJson(auditScaled.concurrent),
      verify: {
        ok: auditScaled.verify.ok,
        events: auditScaled.verify.events,
        problem: auditScaled.verify.problem,
      },
    },
    auditTwoNodes: auditNodes && {
      nodes: appendJson(auditNodes.phase),
      verify: {
        ok: auditNodes.verify.ok,
        events: auditNodes.verify.events,
        problem: auditNodes.verify.problem,
      },
    },
    sideBySide,
    policy: policy && {
      rules: policy.rules,
      contexts: policy.contexts,
      decisions: policy.decisions,
      seconds: round(policy.elapsedMs / 1000, 2),
      perSecond: round(policy.rate, 0),
      usPerDecision: round(policy.usPerDecision, 3),
      cpuUsPerDecision: round(policy.cpuUsPerDecision, 3),
      traces: policy.traces,
      outcomes: policy.outcomes,
      otherCpuShare: round(policy.otherCpuShare, 2),
    },
    signinSink: sink &&
      plain &&
      sinked && {
        sinks: sink.sinks,
        concurrency: sink.concurrency,
        rounds: sink.rounds,
        windowSeconds: round(sink.windowMs / 1000, 2),
        withoutPerSecond: round(plain.rate),
        withPerSecond: round(sinked.rate),
        differencePct: round(sinkDiffPct),
        withoutServerCpuMsPerOp: round(plain.serverCpuMsPerOp, 3),
        withServerCpuMsPerOp: round(sinked.serverCpuMsPerOp, 3),
        signIns: sink.signIns,
        expectedEvents: sink.expectedEvents,
        fileEvents: sink.fileEvents,
        webhookEvents: sink.webhookEvents,
        webhookRequests: sink.webhookRequests,
        maxCatchUpMs: round(sink.maxCatchUpMs, 0),
        delivered: sink.delivered,
      },
    signinToArgon2Rate: signin && argon2 ? round(signin.rate / argon2.rate, 3) : undefined,
    signinCpuInVerifies:
      signin && argon2 ? round(signin.serverCpuMsPerOp / argon2.cpuMsPerVerify, 3) : undefined,
    targets: targets.map((t) =>
      t.unit === 'ms/op'
        ? { name: t.name, limitMs: round(t.limit, 3), actualMs: round(t.actual, 3), met: t.met }
        : {
            name: t.name,
            unit: t.unit,
            limit: round(t.limit, t.unit === 'x' ? 3 : 1),
            actual: round(t.actual, t.unit === 'x' ? 3 : 1),
            met: t.met,
          },
    ),
    failed: failed ? failed.split('\n')[0] : undefined,
  };
  process.stdout.write(`BENCH_JSON ${JSON.stringify(json)}\n`);
  process.exitCode = failed ? 1 : 0;
}

function appendJson(p: AppendPhase) {
  return {
    appenders: p.appenders,
    appends: p.appends,
    seconds: round(p.elapsedMs / 1000, 2),
    perSecond: round(p.rate),
    cpuUsPerAppend: round(p.cpuUsPerAppend, 2),
    storeCpuUsPerAppend: round(p.storeCpuUsPerAppend, 2),
    p50Us: round(p.p50Us, 1),
    p99Us: round(p.p99Us, 1),
    otherCpuShare: round(p.otherCpuShare, 2),
  };
}

function round(n: number, digits = 1): number | null {
  return Number.isFinite(n) ? Number(n.toFixed(digits)) : null;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
