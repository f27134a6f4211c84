import YAML from 'yaml';
import { compilePolicy, decide, type CompiledPolicy } from '../../src/policy/decide.js';
import { parsePolicy, PolicyError } from '../../src/policy/schema.js';
import type { Decision, PolicyContext } from '../../src/policy/types.js';

/** The policy file of issue 5, as written there. */
export const ISSUE_EXAMPLE = `networks:                      # named locations
  office: [192.0.2.0/24, "2001:db8:1::/48"]
  vpn: [198.51.100.0/24]
applications:                  # by OIDC client_id or SAML entityID
  payroll: { classification: high }
rules:
  - id: block-embargoed
    when: { country: { in: [KP, IR] } }
    then: deny
  - id: outside-trusted-networks
    when: { network: { not_in: [office, vpn] } }
    then: { mfa: { strength: any } }
  - id: byod-mobile
    when: { device: { type: [mobile, tablet], managed: false } }
    then: { mfa: { strength: any } }
  - id: sensitive-apps
    when: { application: { classification: [high] } }
    then: { mfa: { strength: phishing_resistant, max_age: 8h } }
  - id: impossible-travel
    when: { impossible_travel: true }
    then: { mfa: { strength: totp } }
    mode: report_only
default: allow
`;

export function compile(text: string): CompiledPolicy {
  return compilePolicy(parsePolicy(text, 'policies.yaml'));
}

/** A policy given as an object (the YAML it would be written as). */
export function compileObject(policy: Record<string, unknown>): CompiledPolicy {
  return compile(YAML.stringify(policy));
}

/** The problems of a policy that does not validate. */
export function problemsOf(
  text: string | Record<string, unknown>,
  source = '/etc/poort/policies.yaml',
): string[] {
  try {
    parsePolicy(typeof text === 'string' ? text : YAML.stringify(text), source);
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
  throw new Error('expected the policy to be refused');
}

/** 2026-06-15 10:00 UTC, a Monday (12:00 in Amsterdam). */
export const MONDAY_NOON_AMSTERDAM = Date.UTC(2026, 5, 15, 10, 0);

type ContextOverrides = Omit<Partial<PolicyContext>, 'device' | 'user' | 'application'> & {
  device?: Partial<PolicyContext['device']>;
  user?: Partial<PolicyContext['user']>;
  application?: Partial<PolicyContext['application']>;
};

/** A desktop BYOD sign-in of alice from a Dutch address, to the portal, changed where a test says so. */
export function context(overrides: ContextOverrides = {}): PolicyContext {
  const { device, user, application, ...rest } = overrides;
  return {
    ip: '145.97.39.155',
    country: 'NL',
    location: { lat: 52.0588, lon: 4.4948 },
    now: MONDAY_NOON_AMSTERDAM,
    failures: [],
    ...rest,
    device: { type: 'desktop', os: 'Windows', managed: false, known: false, ...device },
    user: { id: 'u-alice', username: 'alice', groups: ['staff'], ...user },
    application: { id: 'portal', protocol: 'oidc', ...application },
  };
}

/** Whether a `when` holds for a context: one rule with it, decided. */
export function holds(when: Record<string, unknown>, ctx: PolicyContext, top: Record<string, unknown> = {}) {
  return whenTrace(when, ctx, top).matched;
}

export function whenTrace(
  when: Record<string, unknown>,
  ctx: PolicyContext,
  top: Record<string, unknown> = {},
): Decision['trace'][number] {
  const decision = decide(compileObject({ ...top, rules: [{ id: 'r', when, then: 'deny' }] }), ctx);
  return decision.trace[0]!;
}
