import { inRange, parseAddress, type Range } from './rules/address.js';
import { compileConditions, Evaluation, type Condition } from './rules/index.js';
import { rangesOf } from './rules/network.js';
import { compileEnv, MFA_STRENGTHS, type PolicySpec } from './schema.js';
import type { Decision, MfaStrength, Outcome, PolicyContext, TraceEntry } from './types.js';

export interface CompiledRule {
  readonly id: string;
  readonly reportOnly: boolean;
  readonly outcome: Outcome;
  readonly when: readonly Condition[];
  readonly unless: readonly Condition[];
}

/** A policy made ready to decide with: matchers built, names resolved, sets made. Compile once, decide often. */
export interface CompiledPolicy {
  /** the policy as read (for showing and comparing) */
  readonly spec: PolicySpec;
  readonly rules: readonly CompiledRule[];
  readonly default: Outcome;
  /** how far back (seconds) conditions count failed attempts: how long the context must keep them */
  readonly failuresWindow: number;
  classificationOf(applicationId: string): string | undefined;
  /** the named networks an address is in (for the audit trail and `poort policy test`) */
  networksOf(ip: string): string[];
}

const RANK: Record<MfaStrength, number> = Object.fromEntries(MFA_STRENGTHS.map((s, i) => [s, i])) as Record<
  MfaStrength,
  number
>;

export function compilePolicy(spec: PolicySpec): CompiledPolicy {
  const env = compileEnv(spec);
  const rules = spec.rules.map((rule): CompiledRule =>
    Object.freeze({
      id: rule.id,
      reportOnly: rule.mode === 'report_only',
      outcome: Object.freeze(rule.then),
      when: compileConditions(rule.when, env),
      unless: rule.unless ? compileConditions(rule.unless, env) : [],
    }),
  );
  const windows = spec.rules.flatMap((r) =>
    [r.when, r.unless].flatMap((c) =>
      c?.failed_attempts ? [c.failed_attempts.within ?? env.failedAttemptsWindow] : [],
    ),
  );
  const named: Array<[string, Range[]]> = [...env.networks].map(([name, ranges]) => [
    name,
    rangesOf(ranges, env),
  ]);
  return {
    spec,
    rules,
    default: Object.freeze(spec.default),
    failuresWindow: Math.max(env.failedAttemptsWindow, ...windows),
    classificationOf: (id) => env.applications.get(id),
    networksOf: (ip) => {
      const address = parseAddress(ip);
      return address
        ? named.filter(([, ranges]) => ranges.some((r) => inRange(address, r))).map(([n]) => n)
        : [];
    },
  };
}

/**
 * The stricter of two outcomes: deny over mfa over allow; of two mfa outcomes the stronger strength and the shorter
 * max_age (a rule asking for a fresh factor is not weakened by one that does not care). Of two denials the first
 * keeps its message.
 */
export function strictest(a: Outcome, b: Outcome): Outcome {
  if (a.kind === 'deny') return a;
  if (b.kind === 'deny') return b;
  if (a.kind === 'allow') return b;
  if (b.kind === 'allow') return a;
  const strength = RANK[b.strength] > RANK[a.strength] ? b.strength : a.strength;
  const maxAge =
    a.maxAge === undefined ? b.maxAge : b.maxAge === undefined ? a.maxAge : Math.min(a.maxAge, b.maxAge);
  if (strength === a.strength && maxAge === a.maxAge) return a;
  if (strength === b.strength && maxAge === b.maxAge) return b;
  return { kind: 'mfa', strength, ...(maxAge !== undefined ? { maxAge } : {}) };
}

function explainAll(conditions: readonly Condition[], e: Evaluation): string {
  return conditions.map((c) => c.explain(e, true)).join(' and ');
}

/** Why a rule matched or not, in words. */
function explain(rule: CompiledRule, e: Evaluation, matched: boolean): string {
  if (matched) return explainAll(rule.when, e);
  const failed = rule.when.find((c) => !c.holds(e));
  return failed
    ? failed.explain(e, false)
    : `${explainAll(rule.when, e)}, but exempt: ${explainAll(rule.unless, e)}`;
}

/** A rule's `when` holds and its `unless` (if any) does not. */
function matches(rule: CompiledRule, e: Evaluation): boolean {
  for (const condition of rule.when) if (!condition.holds(e)) return false;
  if (rule.unless.length === 0) return true;
  for (const condition of rule.unless) if (!condition.holds(e)) return true;
  return false;
}

/**
 * Decides on one attempt. Pure: everything it reads is in the policy and the context (the time is `ctx.now`).
 * Every enforced rule that matches applies and the strictest outcome wins, so the order of the rules never weakens
 * one; the default applies only when no enforced rule matches. Report-only rules are evaluated and returned, never
 * enforced.
 *
 * The trace is worded when it is first read (an own, enumerable property, so JSON, spreads and copies carry it):
 * wording why each rule did or did not match costs more than deciding, and many decisions are enforced without
 * anyone reading it. The context must therefore not be changed while the trace may still be read.
 */
export function decide(policy: CompiledPolicy, ctx: PolicyContext): Decision {
  const e = new Evaluation(ctx, policy);
  const matched = new Array<boolean>(policy.rules.length);
  const rules: string[] = [];
  const reportOnly: Decision['reportOnly'] = [];
  let outcome: Outcome | undefined;
  for (let i = 0; i < policy.rules.length; i++) {
    const rule = policy.rules[i]!;
    const match = matches(rule, e);
    matched[i] = match;
    if (!match) continue;
    if (rule.reportOnly) {
      reportOnly.push({ rule: rule.id, outcome: rule.outcome });
    } else {
      rules.push(rule.id);
      outcome = outcome ? strictest(outcome, rule.outcome) : rule.outcome;
    }
  }
  let trace: TraceEntry[] | undefined;
  return {
    outcome: outcome ?? policy.default,
    rules,
    reportOnly,
    get trace() {
      return (trace ??= policy.rules.map((rule, i) => ({
        rule: rule.id,
        matched: matched[i]!,
        why: explain(rule, e, matched[i]!),
        reportOnly: rule.reportOnly,
      })));
    },
  };
}

function seconds(s: number): string {
  if (s % 86400 === 0) return `${s / 86400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** An outcome in words: "allow", "deny (message policy.denied.country)", "mfa phishing_resistant, max age 8h". */
export function describeOutcome(outcome: Outcome): string {
  switch (outcome.kind) {
    case 'allow':
      return 'allow';
    case 'deny':
      return outcome.message ? `deny (message ${outcome.message})` : 'deny';
    case 'mfa':
      return `mfa ${outcome.strength}${outcome.maxAge !== undefined ? `, max age ${seconds(outcome.maxAge)}` : ''}`;
  }
}
