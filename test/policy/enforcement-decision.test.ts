import { describe, expect, it } from 'vitest';
import { auditPolicy, enforcementOf, sessionSatisfies } from '../../src/policy/enforce.js';
import type { Decision, PolicyContext } from '../../src/policy/types.js';
import type { Strength } from '../../src/mfa/strength.js';

const NOW = Date.UTC(2026, 11, 4, 12, 0);
const context = {} as PolicyContext;

function decision(
  outcome: Decision['outcome'],
  rules: string[] = [],
  reportOnly: Decision['reportOnly'] = [],
) {
  return { outcome, rules, reportOnly, trace: [] } satisfies Decision;
}

describe('a decision in the sign-in', () => {
  it('turns mfa into a requirement with its max_age, deny into a denial with its message, allow into nothing', () => {
    expect(enforcementOf(decision({ kind: 'allow' }), context)).toMatchObject({ requirement: 'none' });
    expect(enforcementOf(decision({ kind: 'allow' }), context)).not.toHaveProperty('denied');
    expect(
      enforcementOf(decision({ kind: 'mfa', strength: 'phishing_resistant', maxAge: 3600 }, ['s']), context),
    ).toMatchObject({ requirement: 'phishing_resistant', maxAge: 3600 });
    expect(
      enforcementOf(decision({ kind: 'deny', message: 'policy.denied.country' }), context),
    ).toMatchObject({
      requirement: 'none',
      denied: { message: 'policy.denied.country' },
    });
    expect(enforcementOf(decision({ kind: 'deny' }), context).denied).toEqual({});
  });

  it('is recorded with the enforced rules, the outcome, and what each report-only rule would have required', () => {
    expect(auditPolicy(decision({ kind: 'allow' }))).toEqual({ decision: 'allow', report_only: [] });
    expect(
      auditPolicy(
        decision(
          { kind: 'mfa', strength: 'any', maxAge: 28800 },
          ['outside', 'byod'],
          [
            { rule: 'travel', outcome: { kind: 'mfa', strength: 'totp' } },
            { rule: 'kiosk', outcome: { kind: 'deny', message: 'x' } },
          ],
        ),
      ),
    ).toEqual({
      rule: 'outside,byod',
      decision: 'mfa',
      strength: 'any',
      max_age: 28800,
      report_only: ['travel', 'kiosk'],
      would: { travel: 'mfa totp', kiosk: 'deny' },
    });
  });

  describe('against an existing single sign-on session', () => {
    const mfa = (strength: 'any' | 'totp' | 'phishing_resistant', maxAge?: number) =>
      enforcementOf(decision({ kind: 'mfa', strength, ...(maxAge ? { maxAge } : {}) }), context);
    const session = (strength: Strength | undefined, ageSeconds: number) => ({
      strength,
      authTime: NOW / 1000 - ageSeconds,
    });

    it('is enough when the policy allows, never when it denies', () => {
      expect(
        sessionSatisfies(enforcementOf(decision({ kind: 'allow' }), context), session(undefined, 9e5), NOW),
      ).toBe(true);
      expect(
        sessionSatisfies(
          enforcementOf(decision({ kind: 'deny' }), context),
          session('phishing_resistant', 0),
          NOW,
        ),
      ).toBe(false);
    });

    it('must hold a strong enough factor', () => {
      expect(sessionSatisfies(mfa('any'), session(undefined, 0), NOW)).toBe(false);
      expect(sessionSatisfies(mfa('any'), session('otp', 0), NOW)).toBe(true);
      expect(sessionSatisfies(mfa('totp'), session('otp', 0), NOW)).toBe(false);
      expect(sessionSatisfies(mfa('totp'), session('totp', 0), NOW)).toBe(true);
      expect(sessionSatisfies(mfa('phishing_resistant'), session('totp', 0), NOW)).toBe(false);
      expect(sessionSatisfies(mfa('phishing_resistant'), session('phishing_resistant', 0), NOW)).toBe(true);
    });

    it('must have signed in within max_age when the policy gives one', () => {
      expect(sessionSatisfies(mfa('any', 3600), session('otp', 3599), NOW)).toBe(true);
      expect(sessionSatisfies(mfa('any', 3600), session('otp', 3601), NOW)).toBe(false);
      expect(sessionSatisfies(mfa('any', 3600), { strength: 'otp', authTime: undefined }, NOW)).toBe(false);
      expect(sessionSatisfies(mfa('any'), session('otp', 30 * 86400), NOW)).toBe(true);
    });
  });
});
