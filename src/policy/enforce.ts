import type { AuditEventInput } from '../audit/event.js';
import { cidrMatcher } from '../http/cidr.js';
import type { Logger } from '../log/logger.js';
import { satisfies, type Requirement, type Strength } from '../mfa/strength.js';
import { predatesSignOut } from '../oidc/signed-out.js';
import type { SessionPolicyCheck } from '../oidc/step-up.js';
import type { Services } from '../server/services.js';
import { buildContext, policyRequestOf, type ContextSources, type PolicyRequest } from './context.js';
import { decide } from './decide.js';
import { DeviceRegistry } from './devices.js';
import { SignInHistory } from './history.js';
import { KnownDevices } from './known-device.js';
import { policyProvider } from './load.js';
import type { Decision, Outcome, PolicyContext } from './types.js';

/** The policy part of an audit event. */
export type AuditPolicy = NonNullable<AuditEventInput['policy']>;

/** What the active policy decided for one attempt, in the terms of the sign-in flow. */
export interface Enforcement {
  decision: Decision;
  context: PolicyContext;
  /** the second factor the policy asks for: 'none' when it allows (or denies) */
  requirement: Requirement;
  /** seconds: how recent the second factor must be, when the policy says */
  maxAge?: number;
  /** the policy refuses the attempt; `message` is the rule's message key, when it gave one */
  denied?: { message?: string };
  /** the decision as the audit event of the attempt records it */
  audit: AuditPolicy;
}

/** The active policy applied to a context: `decide(await policyProvider.current(), ctx)`. */
export type PolicyEvaluator = (ctx: PolicyContext) => Promise<Decision>;

/** "mfa totp", "mfa phishing_resistant max_age=28800", "deny", "allow": an outcome in a few words, for the trail. */
function describe(outcome: Outcome): string {
  if (outcome.kind !== 'mfa') return outcome.kind;
  return `mfa ${outcome.strength}${outcome.maxAge !== undefined ? ` max_age=${outcome.maxAge}` : ''}`;
}

/**
 * The decision as the audit trail keeps it: the enforced rules that matched (comma-separated; none when the
 * default applied), the outcome, and every report-only rule that matched with what it would have required.
 */
export function auditPolicy(decision: Decision): AuditPolicy {
  const { outcome } = decision;
  return {
    ...(decision.rules.length > 0 ? { rule: decision.rules.join(',') } : {}),
    decision: outcome.kind,
    ...(outcome.kind === 'mfa' ? { strength: outcome.strength } : {}),
    ...(outcome.kind === 'mfa' && outcome.maxAge !== undefined ? { max_age: outcome.maxAge } : {}),
    report_only: decision.reportOnly.map((r) => r.rule),
    ...(decision.reportOnly.length > 0
      ? { would: Object.fromEntries(decision.reportOnly.map((r) => [r.rule, describe(r.outcome)])) }
      : {}),
  };
}

/** A decision turned into what the sign-in must do. */
export function enforcementOf(decision: Decision, context: PolicyContext): Enforcement {
  const { outcome } = decision;
  return {
    decision,
    context,
    requirement: outcome.kind === 'mfa' ? outcome.strength : 'none',
    ...(outcome.kind === 'mfa' && outcome.maxAge !== undefined ? { maxAge: outcome.maxAge } : {}),
    ...(outcome.kind === 'deny' ? { denied: outcome.message ? { message: outcome.message } : {} } : {}),
    audit: auditPolicy(decision),
  };
}

/** What a single sign-on session holds, to compare with what the policy asks now. */
export interface SessionStrength {
  /** the second factor's strength (SessionStrengths); undefined for a password-only session */
  strength: Strength | undefined;
  /** epoch seconds of the session's last sign-in */
  authTime: number | undefined;
}

/**
 * Whether an existing session satisfies a decision as it is: not when the policy denies (the sign-in pages say so),
 * nor when it asks for a stronger second factor than the session's, or a fresher one than its last sign-in.
 */
export function sessionSatisfies(
  enforcement: Enforcement,
  session: SessionStrength,
  now = Date.now(),
): boolean {
  if (enforcement.denied) return false;
  if (enforcement.requirement === 'none') return true;
  if (!satisfies(session.strength, enforcement.requirement)) return false;
  if (enforcement.maxAge === undefined) return true;
  return session.authTime !== undefined && now / 1000 - session.authTime <= enforcement.maxAge;
}

/**
 * Contextual policies in the sign-in: builds the context of an attempt (the look-ups) and asks the active policy
 * (pure). Used after the first factor of a sign-in, after a password-less passkey, and for every authorization
 * request that an existing single sign-on session would otherwise answer at once.
 */
export class PolicyEnforcement {
  constructor(
    private readonly evaluate: PolicyEvaluator,
    readonly sources: ContextSources,
  ) {}

  async decide(
    request: PolicyRequest,
    user: { id: string; username: string; groups: string[] },
    application: PolicyContext['application'],
    now = Date.now(),
  ): Promise<Enforcement> {
    const context = await buildContext(request, user, application, this.sources, now);
    return enforcementOf(await this.evaluate(context), context);
  }

  /** Whether an existing single sign-on session is not enough for this request under the policy (step-up). */
  async sessionNeedsMore(
    request: PolicyRequest,
    user: { id: string; username: string; groups: string[] },
    application: PolicyContext['application'],
    session: SessionStrength,
    now = Date.now(),
  ): Promise<boolean> {
    const enforcement = await this.decide(request, user, application, now);
    return !sessionSatisfies(enforcement, session, now);
  }
}

/** Contextual policies as the server uses them: for the sign-in pages and for oidc-provider's step-up check. */
export interface SignInPolicy {
  enforcement: PolicyEnforcement;
  history: SignInHistory;
  knownDevices: KnownDevices;
  /** whether a single sign-on session is not enough for an authorization request (`interactions` in step-up.ts) */
  sessionCheck: SessionPolicyCheck;
}

/** The active policy (re-read when `poort policy set` stores a version) with the look-ups of its context. */
export function signInPolicy(services: Services, log: Logger): SignInPolicy {
  const { config } = services;
  const policies = policyProvider(services, {
    onError: (err, keeping) =>
      log.error(
        { err, policy: keeping.source },
        'a newer sign-in policy cannot be used; the one in force stays',
      ),
  });
  const trustedProxy = cidrMatcher(config.server.trust_proxy);
  const history = new SignInHistory(services.kv, async () => (await policies.current()).failuresWindow);
  const knownDevices = new KnownDevices(services.secrets.csrfKey, {
    ...config.policy_context.known_device,
    secure: config.server.issuer.startsWith('https:'),
  });
  const enforcement = new PolicyEnforcement(async (ctx) => decide(await policies.current(), ctx), {
    devices: new DeviceRegistry(services.db),
    history,
    knownDevices,
    managedDeviceHeader: config.policy_context.managed_device_header,
    trustedProxy,
  });
  const sessionCheck: SessionPolicyCheck = async (req, session, application) => {
    // findById answers only for users who exist and are enabled: anyone else signs in again (and cannot).
    const identity = await services.directory.findById(session.accountId);
    if (!identity) return 'ended';
    if (predatesSignOut(identity, { authTime: session.authTime })) return 'ended';
    const request = policyRequestOf(req, trustedProxy);
    return (await enforcement.sessionNeedsMore(request, identity, application, session)) ? 'more' : 'enough';
  };
  return { enforcement, history, knownDevices, sessionCheck };
}
