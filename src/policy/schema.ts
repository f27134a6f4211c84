import fs from 'node:fs';
import YAML, { LineCounter } from 'yaml';
import { z } from 'zod';
import { duration } from '../config/duration.js';
import { isValidCidr } from '../http/cidr.js';
import { conditionProblems, conditionsSchema, type CompileEnv } from './rules/index.js';
import { failedAttemptsSettingsSchema } from './rules/failed-attempts.js';
import { impossibleTravelSettingsSchema } from './rules/impossible-travel.js';
import { list, oneOf, strictObject, type Problem } from './rules/parts.js';
import type { MfaStrength, Outcome } from './types.js';

/** The policy language of `config/policies.yaml`: named networks and applications, rules, and a default. */

export const MFA_STRENGTHS = ['any', 'totp', 'phishing_resistant'] as const satisfies readonly MfaStrength[];

const OUTCOME_FORMS = 'allow, deny, { deny: { message: key } } or { mfa: { strength, max_age } }';

const mfaSchema = strictObject({
  strength: oneOf(MFA_STRENGTHS).default('any'),
  /** how fresh the second factor must be */
  max_age: duration.optional(),
});

const denySchema = strictObject({
  /** a message key of the locale files, shown on the denied page instead of the generic text */
  message: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,127}$/i, 'expected a message key such as policy.denied.country')
    .optional(),
});

function describe(value: unknown): string {
  if (value === undefined || value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return `a mapping with ${Object.keys(value).join(', ') || 'no keys'}`;
  return JSON.stringify(value);
}

/** `allow`, `deny`, `{ deny: { message } }` or `{ mfa: { strength, max_age } }`, read as an Outcome. */
export const outcomeSchema = z.unknown().transform((value, ctx): Outcome => {
  if (value === 'allow') return { kind: 'allow' };
  if (value === 'deny') return { kind: 'deny' };
  const keys = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.keys(value) : [];
  const form = keys.length === 1 && (keys[0] === 'mfa' || keys[0] === 'deny') ? keys[0] : undefined;
  if (!form) {
    ctx.addIssue({ code: 'custom', message: `expected ${OUTCOME_FORMS}, got ${describe(value)}` });
    return z.NEVER;
  }
  const inner = (value as Record<string, unknown>)[form] ?? {};
  const parsed = (form === 'mfa' ? mfaSchema : denySchema).safeParse(inner, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      ctx.addIssue({ code: 'custom', message: issueMessage(issue), path: [form, ...issue.path] });
    return z.NEVER;
  }
  if (form === 'deny') {
    const { message } = parsed.data as z.infer<typeof denySchema>;
    return { kind: 'deny', ...(message ? { message } : {}) };
  }
  const mfa = parsed.data as z.infer<typeof mfaSchema>;
  return {
    kind: 'mfa',
    strength: mfa.strength,
    ...(mfa.max_age !== undefined ? { maxAge: mfa.max_age } : {}),
  };
});

const ruleSchema = strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected an id of letters, digits, . _ - (at most 64)'),
  description: z.string().optional(),
  when: conditionsSchema,
  /** exempts what it matches from the rule */
  unless: conditionsSchema.optional(),
  then: outcomeSchema,
  /** report_only: evaluated and recorded ("would have required …"), not enforced */
  mode: oneOf(['enforce', 'report_only']).default('enforce'),
});

const range = z.string().refine(isValidCidr, {
  error: (issue) =>
    `expected an IP address or CIDR range such as 192.0.2.0/24 or 2001:db8::/48, got ${JSON.stringify(issue.input)}`,
});

/** Absent or empty (every entry commented out) is the same. */
const orEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === null ? undefined : v), schema);

export const policyFileSchema = strictObject({
  networks: orEmpty(z.record(z.string(), list(range)).default({})),
  applications: orEmpty(
    z
      .record(z.string(), strictObject({ classification: z.string().min(1, 'expected a classification') }))
      .default({}),
  ),
  impossible_travel: orEmpty(impossibleTravelSettingsSchema.prefault({})),
  failed_attempts: orEmpty(failedAttemptsSettingsSchema.prefault({})),
  rules: orEmpty(z.array(ruleSchema).default([])),
  default: orEmpty(outcomeSchema.default({ kind: 'allow' })),
});

export type PolicySpec = z.infer<typeof policyFileSchema>;
export type RuleSpec = PolicySpec['rules'][number];

/** A policy that cannot be used; one line per problem, each naming the source, the rule, the key and the reason. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

const NETWORK_NAME = /^[\p{L}\p{N}][\p{L}\p{N}_.-]{0,63}$/u;

/** What the top of the file offers the conditions. */
export function compileEnv(spec: PolicySpec): CompileEnv {
  return {
    networks: new Map(Object.entries(spec.networks)),
    applications: new Map(Object.entries(spec.applications).map(([id, a]) => [id, a.classification])),
    impossibleTravel: {
      maxSpeedKmh: spec.impossible_travel.max_speed_kmh,
      minDistanceKm: spec.impossible_travel.min_distance_km,
    },
    failedAttemptsWindow: spec.failed_attempts.within,
  };
}

/** Problems the shape alone cannot show: names that must be unique or must resolve. */
function crossChecks(spec: PolicySpec): Problem[] {
  const problems: Problem[] = [];
  for (const name of Object.keys(spec.networks)) {
    if (!NETWORK_NAME.test(name) || isValidCidr(name))
      problems.push({
        path: ['networks', name],
        message: 'expected a network name of letters, digits, _ . - (not an address)',
      });
  }
  const env = compileEnv(spec);
  const seen = new Map<string, number>();
  spec.rules.forEach((rule, i) => {
    const first = seen.get(rule.id);
    if (first !== undefined)
      problems.push({
        path: ['rules', i, 'id'],
        message: `duplicate rule id "${rule.id}" (also rules[${first}])`,
      });
    else seen.set(rule.id, i);
    for (const part of ['when', 'unless'] as const) {
      const conditions = rule[part];
      if (!conditions) continue;
      for (const p of conditionProblems(conditions, env))
        problems.push({ ...p, path: ['rules', i, part, ...p.path] });
    }
  });
  return problems;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

/** The reason of one zod issue in the words of the rest of Poort: what was expected, and what was there. */
function issueMessage(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      return input === undefined
        ? `missing (expected ${EXPECTED[issue.expected] ?? issue.expected})`
        : `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${describe(input)}`;
    case 'too_small':
      if (issue.origin === 'number')
        return `expected at least ${String(issue.minimum)}${issue.inclusive === false ? ' (exclusive)' : ''}, got ${describe(input)}`;
      return issue.message;
    case 'too_big':
      if (issue.origin === 'number')
        return `expected at most ${String(issue.maximum)}, got ${describe(input)}`;
      return issue.message;
    case 'invalid_union':
      return `expected ${issue.message.replace(/^Invalid input:?\s*/i, '') || 'another form'}, got ${describe(input)}`;
    default:
      return issue.message;
  }
}

/** `rules[2] (id "byod-mobile"): when.device.type[0]` */
function wherePath(path: ReadonlyArray<PropertyKey>, raw: unknown): string {
  const keys = (p: ReadonlyArray<PropertyKey>) =>
    p
      .map((k) => (typeof k === 'number' ? `[${k}]` : String(k)))
      .join('.')
      .replace(/\.\[/g, '[');
  if (path[0] === 'rules' && typeof path[1] === 'number') {
    const rule = (raw as { rules?: unknown[] } | undefined)?.rules?.[path[1]] as { id?: unknown } | undefined;
    const id = typeof rule?.id === 'string' ? ` (id ${JSON.stringify(rule.id)})` : '';
    const rest = keys(path.slice(2));
    return `rules[${path[1]}]${id}${rest ? `: ${rest}` : ''}`;
  }
  return keys(path) || '(top level)';
}

/** The line of the deepest key or entry of the path that exists in the document. */
function lineOf(
  doc: YAML.Document,
  counter: LineCounter,
  path: ReadonlyArray<PropertyKey>,
): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const parent = n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1) as unknown[], true);
    const last = path[n - 1];
    let node: unknown;
    if (YAML.isMap(parent))
      node = parent.items.find(
        (pair) => YAML.isScalar(pair.key) && String(pair.key.value) === String(last),
      )?.key;
    else if (YAML.isSeq(parent) && typeof last === 'number') node = parent.items[last];
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) return counter.linePos(range[0]).line;
  }
  const top = (doc.contents as { range?: [number, number, number] } | null)?.range;
  return top ? counter.linePos(top[0]).line : undefined;
}

/** Reads a policy from its YAML text; `source` names it in errors (the file, or "version 4"). Throws PolicyError. */
export function parsePolicy(text: string, source: string): PolicySpec {
  const counter = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter: counter, prettyErrors: true, uniqueKeys: true });
  const [error] = doc.errors;
  if (error) {
    // the first error only: the ones after it mostly follow from it
    throw new PolicyError([
      `${source}: line ${error.linePos?.[0].line ?? '?'}: not valid YAML: ${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
    ]);
  }
  const raw = (doc.toJS() ?? {}) as unknown;
  const located = (path: ReadonlyArray<PropertyKey>, message: string, at = path) => {
    const line = lineOf(doc, counter, at);
    return `${source}: ${wherePath(path, raw)}: ${message}${line ? ` (line ${line})` : ''}`;
  };
  const result = policyFileSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    throw new PolicyError(
      result.error.issues.map((issue) =>
        located(
          issue.path,
          issueMessage(issue),
          issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path,
        ),
      ),
    );
  }
  const problems = crossChecks(result.data);
  if (problems.length > 0) throw new PolicyError(problems.map((p) => located(p.path, p.message)));
  return result.data;
}

/** Reads and parses a policy file; errors name the file. */
export function readPolicyFile(file: string): { text: string; spec: PolicySpec } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new PolicyError([
      `${file}: cannot read the policy file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    ]);
  }
  return { text, spec: parsePolicy(text, file) };
}
