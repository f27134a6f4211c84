import { InvalidArgumentError, type Command } from 'commander';
import type { UserDirectory } from '../directory/users.js';
import type { Services } from '../server/services.js';

/** An operational failure (no such user, a refused password, ...): `poort: <message>` on stderr, exit 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Exit code for wrong use of the command line (unknown command or option, missing argument). */
export const USAGE_EXIT_CODE = 2;

/** The global options, given before or after the command name. */
export interface GlobalOptions {
  config?: string;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/**
 * Reads the configuration (--config, else POORT_CONFIG, else ./poort.yaml, else the shipped defaults), opens the
 * same store and keys as the server, runs `fn` and always closes them again.
 */
export async function withServices<T>(cmd: Command, fn: (services: Services) => Promise<T>): Promise<T> {
  const { loaded, openServices } = await loadModules(globalOptions(cmd).config);
  // The ephemeral store (Redis on several nodes) only when a command uses it: most manage durable data.
  const services = await openServices(loaded, { lazyEphemeral: true });
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}

/**
 * Reads the configuration. The store, keys and configuration modules are loaded only now, so that help and usage
 * errors answer quickly.
 */
export async function loadModules(file: string | undefined) {
  const { loadConfig } = await import('../config/load.js');
  const { openServices } = await import('../server/services.js');
  return { loaded: loadConfig({ file }), openServices };
}

/** Reports wrong use of a command like commander does: the message and the command's help on stderr, exit 2. */
export function usageError(cmd: Command, message: string): never {
  cmd.error(`error: ${message}`, { exitCode: USAGE_EXIT_CODE, code: 'poort.usage' });
}

/** Option parser for a comma-separated list: `a,b , c` → ['a', 'b', 'c'], repeated options add up. */
export function commaList(value: string, previous: string[] | undefined): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('expected a comma-separated list');
  return [...new Set([...(previous ?? []), ...items])];
}

/** Option parser for a repeatable option. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `seconds` as the CLI writes durations: whole days where it can. */
function durationText(seconds: number): string {
  return seconds % 86400 === 0 ? `${seconds / 86400}d` : `${seconds}s`;
}

/** An option parser for a lifetime of at most `maxSeconds`: `90s`, `15m`, `24h`, `7d`, or whole seconds. */
export function lifetimeOption(maxSeconds: number): (value: string) => number {
  return durationArgument({ max: maxSeconds, example: 'a lifetime such as 30m, 24h or 7d' });
}

/** A parser for a duration (`90s`, `15m`, `24h`, `7d`, or whole seconds) between `min` and `max` seconds. */
export function durationArgument(limits: {
  min?: number;
  max: number;
  example: string;
}): (value: string) => number {
  const min = limits.min ?? 1;
  const range = min > 1 ? `at least ${durationText(min)}, ` : '';
  return (value) => {
    const match = /^(\d+)\s*([smhd]?)$/.exec(value.trim());
    const seconds = match ? Number(match[1]) * (UNITS[match[2] || 's'] ?? 1) : NaN;
    if (!Number.isSafeInteger(seconds) || seconds < min || seconds > limits.max)
      throw new InvalidArgumentError(
        `expected ${limits.example} (${range}at most ${durationText(limits.max)})`,
      );
    return seconds;
  };
}

/**
 * Refuses a change an external directory owns for its users (the LDAP server, an upstream OpenID provider): the
 * password (never stored by Poort), the name and address, and the groups (each sign-in copies them again).
 */
export function requireLocalUser(
  user: { username: string; directory: UserDirectory },
  what: 'password' | 'profile' | 'groups',
): void {
  if (user.directory === 'local') return;
  const owned = {
    password: 'its password is checked by the directory and never stored by Poort: change it there',
    profile: 'its name and e-mail address come from the directory at each sign-in: change them there',
    groups: 'its groups come from the directory at each sign-in: change the membership there',
  }[what];
  throw new CliError(`${user.username} is a user of ${directoryName(user.directory)}: ${owned}`);
}

/** A directory as an operator reads it. */
export function directoryName(directory: UserDirectory): string {
  if (directory === 'ldap') return 'the LDAP directory';
  if (directory === 'local') return 'Poort';
  return `the upstream provider ${directory.slice('upstream:'.length)}`;
}
