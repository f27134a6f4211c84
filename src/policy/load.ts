import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import type { Config } from '../config/schema.js';
import { packageRoot } from '../paths.js';
import type { Db } from '../store/database.js';
import { compilePolicy, type CompiledPolicy } from './decide.js';
import { parsePolicy, readPolicyFile } from './schema.js';
import { localPolicyWrites, PolicyStore } from './store.js';

/** The shipped policy: allow everything until the administrator writes rules. */
export const defaultPolicyFile = path.join(packageRoot, 'config', 'policies.yaml');

/** The policy file in force while the store holds no version: `policies.file` (relative to the configuration file). */
export function policyFile(services: { config: Pick<Config, 'policies'>; configFile: string }): string {
  const file = services.config.policies.file;
  return file ? path.resolve(path.dirname(services.configFile), file) : defaultPolicyFile;
}

export interface ActivePolicy {
  /** the stored version; null while the policy file is in force (nothing stored yet) */
  version: number | null;
  /** "version 4", or the path of the policy file */
  source: string;
  /** the YAML */
  text: string;
  compiled: CompiledPolicy;
}

/** The newest stored version, else the policy file. Throws PolicyError when it cannot be used. */
export async function loadActivePolicy(db: Db, file: string): Promise<ActivePolicy> {
  const latest = await new PolicyStore(db).latest();
  if (latest) {
    const source = `version ${latest.version}`;
    return {
      version: latest.version,
      source,
      text: latest.text,
      compiled: compilePolicy(parsePolicy(latest.text, `policy ${source}`)),
    };
  }
  const { text, spec } = readPolicyFile(file);
  return { version: null, source: file, text, compiled: compilePolicy(spec) };
}

export async function activePolicy(services: {
  db: Db;
  config: Pick<Config, 'policies'>;
  configFile: string;
}): Promise<ActivePolicy> {
  return loadActivePolicy(services.db, policyFile(services));
}

/** SQLite's data_version through Kysely: moves whenever another connection (the CLI) commits. */
async function dataVersion(db: Db): Promise<number> {
  const { rows } = await sql<{ data_version: number }>`PRAGMA data_version`.execute(db);
  return rows[0]?.data_version ?? Number.NaN;
}

export interface PolicyProviderOptions {
  db: Db;
  /** the policy file in force while the store holds no version */
  file: string;
  /**
   * A number that moves when another process commits to the store (`sqliteChangeCounter`); by default SQLite's
   * data_version read through Kysely.
   */
  changes?: () => number | Promise<number>;
  /** a newer policy could not be used and the one before stays in force */
  onError?: (err: unknown, keeping: ActivePolicy) => void;
}

/**
 * The policy in force for a running server. It is read again only when the store's change counter moved (a
 * `poort policy set` from the CLI), this process stored a version, or the policy file changed; otherwise the
 * compiled policy is reused. A newer policy that cannot be used does not replace a working one.
 */
export class PolicyProvider {
  #active: ActivePolicy | undefined;
  #key = '';
  #loading: Promise<ActivePolicy> | undefined;
  readonly #changes: () => number | Promise<number>;

  constructor(private readonly options: PolicyProviderOptions) {
    this.#changes = options.changes ?? (() => dataVersion(options.db));
  }

  async current(): Promise<CompiledPolicy> {
    return (await this.active()).compiled;
  }

  async active(): Promise<ActivePolicy> {
    const key = await this.changeKey();
    if (this.#active && key === this.#key) return this.#active;
    this.#loading ??= this.reload(key).finally(() => (this.#loading = undefined));
    return this.#loading;
  }

  private async changeKey(): Promise<string> {
    // a stat costs a few microseconds; it lets an edited policy file take effect while no version is stored
    const stat = fs.statSync(this.options.file, { throwIfNoEntry: false });
    return `${await this.#changes()}/${localPolicyWrites()}/${stat?.mtimeMs ?? 0}/${stat?.size ?? 0}`;
  }

  private async reload(key: string): Promise<ActivePolicy> {
    try {
      this.#active = await loadActivePolicy(this.options.db, this.options.file);
    } catch (err) {
      if (!this.#active) throw err;
      this.options.onError?.(err, this.#active);
    }
    this.#key = key;
    return this.#active;
  }
}

/** The provider over a service set (server or CLI). */
export function policyProvider(
  services: { db: Db; config: Pick<Config, 'policies'>; configFile: string; durableChanges?: () => number },
  options: Omit<PolicyProviderOptions, 'db' | 'file'> = {},
): PolicyProvider {
  // The store's own change counter works for SQLite and PostgreSQL alike; the PRAGMA fallback only for SQLite.
  const changes = options.changes ?? services.durableChanges;
  return new PolicyProvider({
    db: services.db,
    file: policyFile(services),
    ...options,
    ...(changes ? { changes } : {}),
  });
}
