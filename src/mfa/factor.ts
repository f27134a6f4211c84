import type { Identity } from '../directory/identity.js';
import type { Strength } from './strength.js';

export const FACTOR_KINDS = ['totp', 'webauthn', 'email', 'sms'] as const;
export type FactorKind = (typeof FACTOR_KINDS)[number];

/** What may be shown of an enrolled factor: never its secret. */
export interface FactorRecord {
  id: string;
  userId: string;
  kind: FactorKind;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** The outcome of checking a second factor. `amr` are the RFC 8176 values it adds to the session. */
export type FactorCheck =
  | { ok: true; factor: FactorRecord; amr: string[]; strength: Strength }
  | {
      ok: false;
      reason:
        | 'invalid_code'
        | 'expired'
        | 'replayed'
        | 'too_many_tries'
        | 'invalid_response'
        | 'not_enrolled'
        | 'code_sent'
        | 'code_not_sent';
    };

/** Where a factor's pages post to and what they need to render. */
export interface ChallengeContext {
  /** the pending sign-in (interaction uid) or enrolment it belongs to: scopes challenges and codes */
  binding: string;
  user: Identity;
  factor: FactorRecord;
  /** client IP, for rate limits of sending codes */
  ip: string;
}

/** Enrolling a factor: whose, and what the pages post back to. */
export interface EnrolContext {
  user: Identity;
  /** scopes the enrolment state (a sign-in's uid, or the account session) */
  binding: string;
  /** where the enrolment form posts, and the CSRF token for it */
  action: string;
  csrf: string;
  ip: string;
  /** the organisation name (the issuer shown in authenticator apps) and the public URL of Poort */
  organisation: string;
  origin: string;
}

export type EnrolResult = { ok: true; factor: FactorRecord } | { ok: false; reason: string };

/**
 * How a kind of factor is added: `begin` renders its setup page (a QR code, a WebAuthn ceremony, an address to send a
 * code to) and returns state the caller keeps server-side; `finish` checks the user's proof and stores the factor.
 */
export interface Enrolment {
  begin(
    ctx: EnrolContext,
    input: Record<string, string>,
  ): Promise<{ view: string; vars: Record<string, unknown>; state: unknown }>;
  finish(ctx: EnrolContext, state: unknown, input: Record<string, string>): Promise<EnrolResult>;
}

/**
 * One kind of second factor. Each kind has its own pages (a template name plus the variables it needs) and its own
 * check; the sign-in flow only picks the factor, throttles, audits and records what was used.
 */
export interface SecondFactor {
  readonly kind: FactorKind;
  readonly strength: Strength;
  /** RFC 8176 values for a successful check */
  readonly amr: readonly string[];
  /** the view (under views/mfa/) that asks for this factor, and its variables; may send a code */
  challenge(ctx: ChallengeContext): Promise<{ view: string; vars: Record<string, unknown> }>;
  /** checks what the user submitted for this factor */
  verify(ctx: ChallengeContext, input: Record<string, string>): Promise<FactorCheck>;
  /** how a user adds one; absent for kinds only the helpdesk can add */
  readonly enrolment?: Enrolment;
}

export const FACTOR_STRENGTH: Record<FactorKind, Strength> = {
  totp: 'totp',
  webauthn: 'phishing_resistant',
  email: 'otp',
  sms: 'otp',
};
