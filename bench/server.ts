import { execSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type LoadedConfig } from '../src/config/load.js';
import { openServices } from '../src/server/services.js';
import { freePort } from './free-port.js';

/** The built server entry point, next to this file in dist/. */
const SERVER_MAIN = fileURLToPath(new URL('../src/server/main.js', import.meta.url));
// A server with a SAML service provider compiles the SAML schema validator before it listens: seconds on a busy machine.
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

/** Throttling is a guard against guessing, not part of what is measured: raise it out of the way. */
const BENCH_CONFIG = `# Written by Poort's benchmark: the defaults, with throttling raised out of the way.
log:
  level: warn
throttle:
  account: { free_attempts: 1000, base_delay: 1s, max_delay: 1s, window: 1m }
  ip: { free_attempts: 1000, base_delay: 1s, max_delay: 1s, window: 1m }
`;

export const BENCH_CLIENT = {
  clientId: 'bench-app',
  secret: 'bench-secret-0123456789abcdef',
  redirectUri: 'http://127.0.0.1:1/cb',
} as const;

/** A SAML service provider: unsigned requests, one HTTP-POST ACS that is never contacted, no encryption. */
export const BENCH_SP = {
  entityId: 'https://bench-sp.example.test/saml',
  acs: 'http://127.0.0.1:1/saml/acs',
} as const;

const BENCH_SP_METADATA =
  `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${BENCH_SP.entityId}">` +
  `<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
  `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${BENCH_SP.acs}" index="0"/>` +
  `</md:SPSSODescriptor></md:EntityDescriptor>`;

export const BENCH_PASSWORD = 'bench correct horse battery staple';
export const benchUsername = (i: number) => `bench${i}`;

/** A temp folder with the bench configuration, and the environment the server runs with. */
export interface BenchEnvironment {
  dir: string;
  port: number;
  issuer: string;
  env: Record<string, string>;
  loaded: LoadedConfig;
  remove(): void;
}

/**
 * A fresh temp folder with the bench configuration. `extraConfig` adds top-level YAML to poort.yaml (e.g. an `audit:`
 * block), given the folder so that it can point files into it.
 */
export async function prepareEnvironment(
  options: { extraConfig?: (dir: string) => string } = {},
): Promise<BenchEnvironment> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'poort-bench-'));
  const port = await freePort();
  const issuer = `http://localhost:${port}`;
  const file = path.join(dir, 'poort.yaml');
  fs.writeFileSync(file, BENCH_CONFIG + (options.extraConfig?.(dir) ?? ''));
  const env = {
    POORT_CONFIG: file,
    POORT_PORT: String(port),
    POORT_ISSUER: issuer,
    POORT_DATA_DIR: path.join(dir, 'data'),
    POORT_KEYS_DIR: path.join(dir, 'keys'),
    POORT_LOG_LEVEL: 'warn',
  };
  const loaded = loadConfig({ file, env });
  return { dir, port, issuer, env, loaded, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Seeds the store before the server starts: `users` users sharing one password (hashed once: every stored hash has
 * the configured parameters, so each verify costs the same), and one confidential first-party client.
 */
export async function seed(bench: BenchEnvironment, users: number): Promise<void> {
  const services = await openServices(bench.loaded);
  try {
    const passwordHash = await services.hasher.hash(BENCH_PASSWORD);
    for (let i = 0; i < users; i++) {
      await services.users.create({
        username: benchUsername(i),
        email: `${benchUsername(i)}@example.org`,
        name: `Bench ${i}`,
        passwordHash,
      });
    }
    await services.groups.create('staff');
    // (no users: they are an LDAP server's)
    if (users > 0)
      await services.groups.addMember('staff', (await services.users.require(benchUsername(0))).id);
    await services.clients.add({
      clientId: BENCH_CLIENT.clientId,
      name: 'Bench app',
      secret: BENCH_CLIENT.secret,
      redirectUris: [BENCH_CLIENT.redirectUri],
      postLogoutRedirectUris: [],
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
      firstParty: true,
      requirePkce: false,
    });
    await services.serviceProviders.add(BENCH_SP_METADATA, {
      nameIdFormat: 'persistent',
      attributes: [
        { source: 'email', name: 'email' },
        { source: 'name', name: 'name' },
        { source: 'groups', name: 'groups' },
      ],
      signAssertion: true,
      signResponse: false,
    });
  } finally {
    await services.close();
  }
}

let clockTicks: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ); 100 on Linux, but ask. */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      const value = Number(
        execSync('getconf CLK_TCK', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
      );
      clockTicks = Number.isInteger(value) && value > 0 ? value : 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface StatTimes {
  /** the command name (field 2) */
  comm: string;
  /** clock ticks of the process's threads in user and system mode */
  utime: number;
  stime: number;
  /** clock ticks of its ended children that it waited for */
  cutime: number;
  cstime: number;
}

function parseStat(stat: string): StatTimes {
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
  return {
    comm: stat.slice(stat.indexOf('(') + 1, close),
    utime: Number(fields[11]),
    stime: Number(fields[12]),
    cutime: Number(fields[13]),
    cstime: Number(fields[14]),
  };
}

function statTimes(file: string): StatTimes {
  return parseStat(fs.readFileSync(file, 'utf8'));
}

/** The command names of the Redis and PostgreSQL servers (PostgreSQL's connection backends keep its name). */
const STORE_SERVERS = new Set(['redis-server', 'postgres']);

/**
 * CPU time so far of this machine's Redis and PostgreSQL servers, in milliseconds: every process named redis-server
 * or postgres, with the CPU of its ended children (a PostgreSQL backend whose connection closed is counted by the
 * postmaster that waited for it, so it counts once whether it ends before, during or after a window). On the Redis +
 * PostgreSQL backends this is part of what an operation costs, as SQLite's work is in the server's own CPU on the
 * embedded store.
 */
export function storeServersCpuMs(): number {
  let ticks = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    let times: StatTimes;
    try {
      times = statTimes(`/proc/${entry}/stat`);
    } catch {
      continue; // the process ended
    }
    if (STORE_SERVERS.has(times.comm)) ticks += times.utime + times.stime + times.cutime + times.cstime;
  }
  return ticks * (1000 / clockTicksPerSecond());
}

export interface ProcessCpu {
  /** user and system time of all threads, in milliseconds, from /proc/<pid>/stat */
  user: number;
  system: number;
  /** of it, the main thread's (JavaScript, HTTP, synchronous SQLite), from /proc/<pid>/task/<pid>/stat */
  main: number;
}

/**
 * CPU time of a process so far. The rest beside the main thread is libuv's thread pool (argon2, WebCrypto signing,
 * async fs) and V8's helper threads (concurrent GC, compilation).
 */
export function processCpuMs(pid: number): ProcessCpu {
  const perTick = 1000 / clockTicksPerSecond();
  const all = statTimes(`/proc/${pid}/stat`);
  const main = statTimes(`/proc/${pid}/task/${pid}/stat`);
  return {
    user: all.utime * perTick,
    system: all.stime * perTick,
    main: (main.utime + main.stime) * perTick,
  };
}

/**
 * CPU time of a process's threads so far in nanoseconds, from /proc/<pid>/task/<tid>/schedstat (exact, where /stat
 * counts clock ticks): the main thread, and the others that are still alive.
 */
export function threadsCpuNs(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let ns: number;
    try {
      ns = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0]);
    } catch {
      continue; // the thread ended
    }
    if (tid === String(pid)) main += ns;
    else others += ns;
  }
  return { main, others };
}

/** CPU time of the whole machine so far from /proc/stat, in milliseconds: busy (not idle or iowait) and total. */
export function machineCpuMs(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  const perMs = 1000 / clockTicksPerSecond();
  return { busy: (total - idle) * perMs, total: total * perMs };
}

export interface RunningBenchServer {
  pid: number;
  port: number;
  issuer: string;
  hostHeader: string;
  cpuMs(): ProcessCpu;
  threadsCpuNs(): { main: number; others: number };
  /** the last lines the server wrote, for error reports */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `node [BENCH_NODE_ARGS] dist/src/server/main.js` as a child and waits for /readyz. `port` starts a further
 * node of the same environment (same configuration, store, keys and issuer) on a port of its own.
 */
export async function startServer(
  bench: BenchEnvironment,
  options: { port?: number } = {},
): Promise<RunningBenchServer> {
  const port = options.port ?? bench.port;
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const command = [process.execPath, ...nodeArgs, SERVER_MAIN];
  // BENCH_SERVER_CPUS=0 pins the server to CPU 0 (taskset execs node: the pid stays the server's). Run the bench itself
  // under `taskset -c 1` to keep the load generator off that CPU: a CPU profile then shows no preemption by it.
  const cpus = process.env.BENCH_SERVER_CPUS;
  if (cpus !== undefined && !/^\d+([-,]\d+)*$/.test(cpus))
    throw new Error(`BENCH_SERVER_CPUS: not a CPU list: ${cpus}`);
  if (cpus) command.unshift('taskset', '-c', cpus);
  const child: ChildProcess = spawn(command[0]!, command.slice(1), {
    cwd: bench.dir,
    env: { ...process.env, ...bench.env, POORT_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  if (child.pid === undefined) throw new Error('could not start the server');
  const pid = child.pid;

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exitCode !== undefined)
      throw new Error(`the server exited with code ${exitCode} before it was ready:\n${tail}`);
    if (await isReady(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server was not ready within ${READY_TIMEOUT_MS} ms:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    pid,
    port,
    issuer: bench.issuer,
    hostHeader: new URL(bench.issuer).host,
    cpuMs: () => processCpuMs(pid),
    threadsCpuNs: () => threadsCpuNs(pid),
    output: () => tail,
    async stop() {
      if (exitCode !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

function isReady(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
    async (res) => {
      await res.arrayBuffer();
      return res.status === 200;
    },
    () => false,
  );
}
