import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { defaultConfigFile } from '../paths.js';
import { configSchema, type Config } from './schema.js';

/** Raised for any configuration that cannot be used; the message names the file, the key path and the reason. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Environment variables that override a key of the file, with how their text is read. */
const envOverrides: ReadonlyArray<{ env: string; path: string[]; parse: (v: string) => unknown }> = [
  { env: 'POORT_HOST', path: ['server', 'host'], parse: (v) => v },
  { env: 'POORT_PORT', path: ['server', 'port'], parse: (v) => (/^\d+$/.test(v) ? Number(v) : v) },
  { env: 'POORT_ISSUER', path: ['server', 'issuer'], parse: (v) => v },
  {
    env: 'POORT_TRUST_PROXY',
    path: ['server', 'trust_proxy'],
    parse: (v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
  },
  { env: 'POORT_DATA_DIR', path: ['storage', 'data_dir'], parse: (v) => v },
  { env: 'POORT_DATABASE_URL', path: ['storage', 'database_url'], parse: (v) => v },
  { env: 'POORT_REDIS_URL', path: ['storage', 'redis_url'], parse: (v) => v },
  { env: 'POORT_KEYS_DIR', path: ['keys', 'dir'], parse: (v) => v },
  { env: 'POORT_LOG_LEVEL', path: ['log', 'level'], parse: (v) => v },
];

export interface LoadedConfig {
  config: Config;
  /** the file the configuration was read from */
  file: string;
}

/** Which file to read: an explicit path, else POORT_CONFIG, else ./poort.yaml when present, else the shipped defaults. */
export function resolveConfigFile(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return path.resolve(explicit);
  if (env.POORT_CONFIG) return path.resolve(env.POORT_CONFIG);
  const local = path.resolve('poort.yaml');
  if (fs.existsSync(local)) return local;
  return defaultConfigFile;
}

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  let received = '';
  let node: unknown = raw;
  for (const key of issue.path) {
    node =
      typeof node === 'object' && node !== null ? (node as Record<PropertyKey, unknown>)[key] : undefined;
  }
  // A URL may carry a password: never repeat it, nor a password.
  const secret = /url$|password$|secret$/.test(String(issue.path[issue.path.length - 1] ?? ''));
  if (node !== undefined && typeof node !== 'object' && !secret) received = ` (got ${JSON.stringify(node)})`;
  if (issue.code === 'unrecognized_keys')
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  return `${issue.message}${received}`;
}

function keyPath(path: readonly PropertyKey[]): string {
  return (
    path
      .map((k) => (typeof k === 'number' ? `[${k}]` : String(k)))
      .join('.')
      .replace(/\.\[/g, '[') || '(top level)'
  );
}

/** Reads, overrides from the environment and validates the configuration; throws ConfigError on anything unusable. */
export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv } = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file = resolveConfigFile(options.file, env);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `${file}: cannot read the configuration file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new ConfigError(`${file}: not valid YAML: ${first.message.split('\n')[0]}`);
  }
  const raw = (doc.toJS() ?? {}) as unknown;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${file}: (top level): expected a mapping of keys to values`);
  }
  const merged = structuredClone(raw) as Record<string, unknown>;
  const fromEnv = new Map<string, string>();
  for (const o of envOverrides) {
    const value = env[o.env];
    if (value === undefined || value === '') continue;
    setPath(merged, o.path, o.parse(value));
    fromEnv.set(o.path.join('.'), o.env);
  }
  // The LDAP service account's password from the environment replaces the file's, where there is an ldap section.
  const ldap = merged.ldap;
  if (env.POORT_LDAP_BIND_PASSWORD && typeof ldap === 'object' && ldap !== null && !Array.isArray(ldap)) {
    const section = ldap as Record<string, unknown>;
    delete section.bind_password_file;
    section.bind_password = env.POORT_LDAP_BIND_PASSWORD;
    fromEnv.set('ldap.bind_password', 'POORT_LDAP_BIND_PASSWORD');
  }
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const where = keyPath(issue.path);
      const source = [...fromEnv].find(([p]) => where === p || where.startsWith(`${p}[`));
      return `${source ? `${source[1]} (${where})` : `${file}: ${where}`}: ${describeIssue(issue, merged)}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  const config = result.data;
  config.storage.data_dir = path.resolve(config.storage.data_dir);
  config.keys.dir = path.resolve(config.keys.dir);
  config.oidc.clients.forEach((client, i) => {
    if (client.client_secret_file) {
      const secretFile = path.resolve(path.dirname(file), client.client_secret_file);
      try {
        client.client_secret = fs.readFileSync(secretFile, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        throw new ConfigError(
          `${file}: oidc.clients[${i}].client_secret_file: cannot read ${secretFile}: ${(err as NodeJS.ErrnoException).code ?? err}`,
        );
      }
      if (client.client_secret.length < 16) {
        throw new ConfigError(
          `${file}: oidc.clients[${i}].client_secret_file: the secret needs at least 16 characters`,
        );
      }
    }
  });
  if (config.ldap) resolveLdapFiles(config.ldap, file);
  config.upstream_providers.forEach((provider, i) => {
    if (!provider.client_secret_file) return;
    const secretFile = path.resolve(path.dirname(file), provider.client_secret_file);
    try {
      provider.client_secret = fs.readFileSync(secretFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(
        `${file}: upstream_providers[${i}].client_secret_file: cannot read ${secretFile}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
    if (!provider.client_secret)
      throw new ConfigError(`${file}: upstream_providers[${i}].client_secret_file: the file is empty`);
  });
  const reset = config.passwords.reset;
  if (reset.self_service.enabled && !reset.email && !config.mfa.otp.email) {
    throw new ConfigError(
      `${file}: passwords.reset.self_service.enabled: the links are e-mailed, but no e-mail sender is ` +
        'configured: set passwords.reset.email (or mfa.otp.email)',
    );
  }
  for (const key of ['security_changes', 'new_sign_ins'] as const) {
    if (config.notifications[key] && !reset.email && !config.mfa.otp.email) {
      throw new ConfigError(
        `${file}: notifications.${key}: the notices are e-mailed, but no e-mail sender is configured: ` +
          'set passwords.reset.email (or mfa.otp.email)',
      );
    }
  }
  const issuer = new URL(config.server.issuer);
  if (issuer.search || issuer.hash) {
    throw new ConfigError(
      `${fromEnv.get('server.issuer') ?? file}: server.issuer: must not have a query or fragment`,
    );
  }
  return { config, file };
}

/** Reads the LDAP service account's password from its file, and checks the CA file. */
function resolveLdapFiles(ldap: NonNullable<Config['ldap']>, file: string): void {
  const read = (key: string, relative: string): string => {
    const resolved = path.resolve(path.dirname(file), relative);
    try {
      return fs.readFileSync(resolved, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `${file}: ldap.${key}: cannot read ${resolved}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
  };
  if (ldap.bind_password_file) {
    ldap.bind_password = read('bind_password_file', ldap.bind_password_file).replace(/\r?\n$/, '');
    if (!ldap.bind_password) throw new ConfigError(`${file}: ldap.bind_password_file: the file is empty`);
  }
  if (ldap.tls.ca_file) {
    const pem = read('tls.ca_file', ldap.tls.ca_file);
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(
        `${file}: ldap.tls.ca_file: expected PEM certificates (-----BEGIN CERTIFICATE-----)`,
      );
    }
    ldap.tls.ca_file = path.resolve(path.dirname(file), ldap.tls.ca_file);
  }
}
