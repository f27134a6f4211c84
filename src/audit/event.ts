import crypto from 'node:crypto';

/** The stable action names; later features add theirs here. Documented in docs/audit-events.md. */
export const AUDIT_ACTIONS = [
  'signin.password',
  'signin.upstream',
  'signin.mfa',
  'signin.denied',
  'signin.completed',
  'signin.throttled',
  'signin.rejected',
  'consent.given',
  'consent.denied',
  'token.issued',
  'token.refreshed',
  'token.revoked',
  'token.rejected',
  'saml.request',
  'saml.assertion.issued',
  'saml.logout',
  'logout',
  'logout.upstream',
  'logout.backchannel',
  'password.changed',
  'password.reset.requested',
  'password.reset.completed',
  'account.locked',
  'account.unlocked',
  'user.created',
  'user.updated',
  'user.disabled',
  'user.enabled',
  'user.removed',
  'group.changed',
  'client.created',
  'client.updated',
  'client.removed',
  'mfa.enrolled',
  'mfa.removed',
  'mfa.code_sent',
  'mfa.renamed',
  'mfa.recovery_codes.generated',
  'mfa.enrolment_code.issued',
  'policy.changed',
  'device.added',
  'device.removed',
  'keys.rotated',
  'keys.retired',
  'audit.archived',
  'audit.searched',
  'audit.verified',
  'admin.access',
  'scim.rejected',
  'scim.token.created',
  'scim.token.revoked',
  'store.migrated',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];
export type AuditOutcome = 'success' | 'failure' | 'denied';
export type ActorType = 'user' | 'admin' | 'helpdesk' | 'cli' | 'system' | 'client';

/** What an event says. Never a secret: no password, code, token, cookie or session value — correlation ids are hashed. */
export interface AuditEventInput {
  action: AuditAction;
  outcome: AuditOutcome;
  /** who did it */
  actor: { type: ActorType; id?: string; name?: string };
  /** whom it was about; `known: false` for a username that matches no user, kept as typed */
  subject?: { id?: string; username?: string; known?: boolean };
  /** the OIDC client or SAML service provider */
  application?: { id: string; protocol: 'oidc' | 'saml' };
  source?: {
    ip?: string;
    country?: string | null;
    user_agent?: string;
    device?: { type?: string; os?: string; browser?: string };
    managed?: boolean;
  };
  /** a stable code for failures and denials: invalid_credentials, throttled, invalid_client, … */
  reason?: string;
  /**
   * the policy decision, where one was taken: the enforced rules that matched (comma-separated), the outcome (allow,
   * mfa, deny) with the strength and max_age an mfa outcome asks, and the report-only rules that matched with what
   * each would have required (`would`: rule → "mfa totp", "deny", …)
   */
  policy?: {
    rule?: string;
    decision?: string;
    strength?: string;
    max_age?: number;
    report_only?: string[];
    would?: Record<string, string>;
  };
  /** sha-256 of the interaction, session or grant id, so events of one sign-in can be joined without the raw value */
  correlation?: string;
  /** further non-secret facts: factor kind, scopes, grant type, changed fields, … */
  details?: Record<string, unknown>;
}

export interface AuditEvent extends AuditEventInput {
  id: string;
  /** ISO-8601 with milliseconds, UTC */
  time: string;
}

/** One stored event with its place in the chain. */
export interface StoredAuditEvent {
  seq: number;
  event: AuditEvent;
  prevHash: string;
  hash: string;
}

/** Hashes a correlation value (interaction uid, session id, grant id) so the trail never holds a usable one. */
export function correlationId(value: string | undefined): string | undefined {
  return value
    ? crypto.createHash('sha256').update(`poort-correlation:${value}`).digest('base64url').slice(0, 22)
    : undefined;
}

export function newEvent(input: AuditEventInput, now: Date = new Date()): AuditEvent {
  return { id: crypto.randomUUID(), time: now.toISOString(), ...input };
}

/** String.prototype.toWellFormed (Node 20 and later), which the ES2023 library types do not declare yet. */
const toWellFormed = (s: string) => (s as string & { toWellFormed(): string }).toWellFormed();

/**
 * A copy of a JSON-like value with every lone UTF-16 surrogate, in strings and keys, replaced by U+FFFD. Canonical
 * JSON has no form for a lone surrogate, and text a client typed (a JSON body can carry one) must not cost the audit
 * trail its event: the event is kept with the replacement character, as a UTF-8 decoder would have written it.
 */
export function withWellFormedText<T>(value: T): T {
  if (typeof value === 'string') return toWellFormed(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item: unknown) => withWellFormedText(item)) as T;
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null)
    return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>))
    out[toWellFormed(key)] = withWellFormedText(item);
  return out as T;
}
