import fs from 'node:fs';
import { ENV_REFERENCE } from './config.js';

/** Replaces every `${NAME}` in a value by that environment variable; an unset variable or a line break is an error. */
export function resolveEnvReferences(value: string, env: NodeJS.ProcessEnv, where: string): string {
  return value.replace(ENV_REFERENCE, (_match, variable: string) => {
    const resolved = env[variable];
    if (resolved === undefined || resolved === '') {
      throw new Error(`${where} refers to \${${variable}}, which is not set`);
    }
    if (/[\r\n]/.test(resolved)) throw new Error(`${where}: \${${variable}} contains a line break`);
    return resolved;
  });
}

/** A secret kept in a file of its own (a mounted secret): its text without the final line break. */
export function readSecretFile(file: string, where: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${where}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      cause: err,
    });
  }
  const secret = text.replace(/\r?\n$/, '');
  if (!secret) throw new Error(`${where}: ${file} is empty`);
  return secret;
}
