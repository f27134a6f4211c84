import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { Db } from '../../src/store/database.js';
import {
  addStorageToFile,
  provisionBackend,
  testBackend,
  withDurable,
  type ProvisionedBackend,
  type TestBackend,
} from './backend.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI: `npm test` builds before vitest runs (or run `npx tsc -p tsconfig.build.json`). */
export const cliPath = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** written to the CLI's standard input, which is then closed */
  input?: string;
  /** extra environment variables; undefined removes one */
  env?: Record<string, string | undefined>;
}

/**
 * A temporary folder for one test file: data and keys inside it, no POORT_CONFIG, cwd = the folder. On the scaled
 * backend (POORT_TEST_BACKEND) the sandbox gets a PostgreSQL database and Redis prefix of its own, written into
 * ./poort.yaml before each command (added to whatever the test wrote there).
 */
export interface Sandbox {
  dir: string;
  dataDir: string;
  keysDir: string;
  backend: TestBackend;
  run(args: string[], options?: RunOptions): Promise<CliResult>;
  /** Opens the durable store the CLI uses (SQLite file or PostgreSQL database) with Kysely, runs `fn`, closes it. */
  withDb<T>(fn: (db: Db, dialect: 'sqlite' | 'postgres') => Promise<T>): Promise<T>;
  /** Opens the durable SQLite database read-only, runs `fn` and closes it (embedded backend only). */
  query<T>(fn: (db: Database.Database) => T): T;
  /** Opens the durable SQLite database for writing (to break it on purpose), runs `fn` and closes it (embedded only). */
  write<T>(fn: (db: Database.Database) => T): T;
  /** Removes the folder, and on scaled drops the database and the Redis keys. */
  remove(): Promise<void>;
}

export function createSandbox(options: { backend?: TestBackend } = {}): Sandbox {
  if (!fs.existsSync(cliPath)) {
    throw new Error(`${cliPath} is missing: build first (npx tsc -p tsconfig.build.json, or npm test)`);
  }
  const backend = options.backend ?? testBackend;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'poort-cli-'));
  const dataDir = path.join(dir, 'data');
  const keysDir = path.join(dir, 'keys');
  const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('POORT_')),
  );
  baseEnv.POORT_DATA_DIR = dataDir;
  baseEnv.POORT_KEYS_DIR = keysDir;
  let provisioned: Promise<ProvisionedBackend> | undefined;
  const stores = async () => {
    provisioned ??= provisionBackend(backend);
    const stores = await provisioned;
    if (backend === 'scaled') addStorageToFile(path.join(dir, 'poort.yaml'), stores.storage);
    return stores;
  };
  const sqliteOnly = () => {
    if (backend !== 'embedded') {
      throw new Error(
        'sandbox.query and sandbox.write read the SQLite file: use sandbox.withDb on any backend',
      );
    }
  };
  return {
    dir,
    dataDir,
    keysDir,
    backend,
    run: async (args, options = {}) => {
      await stores();
      return runCli(args, { cwd: dir, env: { ...baseEnv, ...options.env }, input: options.input });
    },
    withDb: async (fn) => {
      const { storage } = await stores();
      return withDurable(storage, dataDir, (db) => fn(db, storage.durable));
    },
    query: (fn) => {
      sqliteOnly();
      return withDatabase(path.join(dataDir, 'poort.sqlite'), true, fn);
    },
    write: (fn) => {
      sqliteOnly();
      return withDatabase(path.join(dataDir, 'poort.sqlite'), false, fn);
    },
    remove: async () => {
      if (provisioned) await (await provisioned).drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function withDatabase<T>(file: string, readonly: boolean, fn: (db: Database.Database) => T): T {
  const db = new Database(file, { readonly, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

export function runCli(
  args: string[],
  options: { cwd: string; env: Record<string, string | undefined>; input?: string },
): Promise<CliResult> {
  const env = Object.fromEntries(
    Object.entries(options.env).filter(([, v]) => v !== undefined),
  ) as NodeJS.ProcessEnv;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: options.cwd, env, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // The CLI may stop reading after the first line: ignore EPIPE on the rest.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/**
 * The CLI on the configuration, store and keys of a running test server (startPoort), as an operator on that
 * machine would run it: changes reach the server without a restart. `config` replaces the server's poort.yaml.
 */
export function runCliOn(
  poort: { dir: string; issuer: string },
  args: string[],
  options: { input?: string; config?: string } = {},
): Promise<CliResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('POORT_')));
  return runCli(['--config', options.config ?? path.join(poort.dir, 'poort.yaml'), ...args], {
    cwd: poort.dir,
    env: {
      ...env,
      POORT_ISSUER: poort.issuer,
      POORT_DATA_DIR: path.join(poort.dir, 'data'),
      POORT_KEYS_DIR: path.join(poort.dir, 'keys'),
    },
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
}

/** Every file under a folder, recursively. */
export function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

/**
 * Waits until what a CLI command committed is what `poort` serves: at once on SQLite (its caches of durable data,
 * the clients', follow data_version), and from the next second on PostgreSQL, whose caches are kept up to a second
 * (timeBucketCounter in src/store/postgres.ts).
 */
export async function changeSeenBy(poort: {
  services: { config: { storage: { durable: string } } };
}): Promise<void> {
  if (poort.services.config.storage.durable !== 'postgres') return;
  await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));
}
