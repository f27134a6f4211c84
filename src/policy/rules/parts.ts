import { z } from 'zod';

/** A problem found after the shape is valid: the path below the condition and what is wrong. */
export interface Problem {
  path: Array<string | number>;
  message: string;
}

/**
 * An object that refuses unknown keys and says which keys it knows: a misspelt condition must not be ignored, or a
 * rule would silently match more than its author meant.
 */
export function strictObject<T extends z.core.$ZodLooseShape>(shape: T) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (expected ${known})`
        : undefined,
  });
}

/** A list with at least one entry. */
export function list<T extends z.ZodType>(item: T) {
  return z.array(item).min(1, 'expected a list with at least one entry');
}

/** A closed set of words, with the message naming them all. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: (issue) =>
      `expected one of ${values.join(', ')}, got ${issue.input === undefined ? 'nothing' : JSON.stringify(issue.input)}`,
  });
}

/** The `in` / `not_in` pair of network and country conditions: exactly one of them. */
export function inOrNotIn<T extends z.ZodType>(item: T) {
  return strictObject({ in: list(item).optional(), not_in: list(item).optional() }).refine(
    (v) => (v.in === undefined) !== (v.not_in === undefined),
    { message: 'expected either in or not_in (one of them)' },
  );
}
