import { describe, expect, it } from 'vitest';
import { contexts, policyText } from '../../bench/scenarios/policy.js';
import { compilePolicy, decide } from '../../src/policy/decide.js';
import { parsePolicy } from '../../src/policy/schema.js';

/**
 * The 50-rule policy and the attempts `npm run bench` measures decisions per second with (issue 5 aims at
 * 100,000 or more). Speed is the bench's business; this checks that what it measures is a valid policy whose
 * decisions differ from attempt to attempt, so the figure means something.
 */
describe('the policy the bench decides with', () => {
  it('validates, has 50 rules, and denies some attempts but not all', () => {
    const policy = compilePolicy(parsePolicy(policyText(50), 'bench'));
    expect(policy.rules).toHaveLength(50);
    const outcomes = contexts().map((ctx) => decide(policy, ctx).outcome.kind);
    expect(outcomes).toContain('deny');
    expect(outcomes.some((kind) => kind !== 'deny')).toBe(true);
  });
});
