import { z } from 'zod';
import { isValidCidr } from '../../http/cidr.js';
import { inRange, parseRange, type Range } from './address.js';
import { listed, type CompileEnv, type Condition, type Evaluation } from './condition.js';
import { inOrNotIn, type Problem } from './parts.js';

/** `network: { in: [office, 10.1.0.0/16] }` or `{ not_in: [...] }`: named networks or CIDR ranges, IPv4 and IPv6. */
export const networkSchema = inOrNotIn(z.string().min(1, 'expected a network name or CIDR range'));
export type NetworkSpec = z.infer<typeof networkSchema>;

/** Entries that are neither a named network nor a CIDR range. */
export function networkProblems(spec: NetworkSpec, env: Pick<CompileEnv, 'networks'>): Problem[] {
  const key = spec.in ? 'in' : 'not_in';
  const names = [...env.networks.keys()];
  return (spec.in ?? spec.not_in ?? []).flatMap((entry, i): Problem[] => {
    if (env.networks.has(entry) || isValidCidr(entry)) return [];
    const message = /^[0-9a-f.:/]+$/i.test(entry)
      ? `expected a CIDR range such as 10.0.0.0/8 or 2001:db8::/32, got "${entry}"`
      : `unknown network "${entry}" (${names.length > 0 ? `named networks: ${listed(names)}` : 'no networks are named'}; or give a CIDR range such as 10.0.0.0/8)`;
    return [{ path: [key, i], message }];
  });
}

/** The ranges of named networks and literal ranges, flattened. */
export function rangesOf(entries: readonly string[], env: Pick<CompileEnv, 'networks'>): Range[] {
  return entries.flatMap((entry) => (env.networks.get(entry) ?? [entry]).map(parseRange));
}

export function compileNetwork(spec: NetworkSpec, env: CompileEnv): Condition {
  const inside = spec.in !== undefined;
  const entries = spec.in ?? spec.not_in ?? [];
  const ranges = rangesOf(entries, env);
  const names = listed(entries);
  const contains = (e: Evaluation): boolean => {
    const address = e.address;
    if (!address) return false;
    for (const range of ranges) if (inRange(address, range)) return true;
    return false;
  };
  return {
    // An address that cannot be read is in no network: `in` fails and `not_in` holds, the stricter reading.
    holds: (e) => contains(e) === inside,
    explain: (e, held) =>
      `network ${e.ctx.ip || '(no address)'} is ${held === inside ? '' : 'not '}in ${names}`,
  };
}
