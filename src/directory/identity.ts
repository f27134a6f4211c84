import type { AuditEventInput } from '../audit/event.js';

/** Where a sign-in attempt comes from, as its audit events say. */
export type AttemptSource = Pick<AuditEventInput, 'source' | 'application' | 'correlation'>;

/** A person as the sign-in flow and the protocols see them, whichever directory they come from. */
export interface Identity {
  /** stable, opaque: the `sub` of tokens */
  id: string;
  username: string;
  email: string;
  name: string | null;
  /** given and family name where the directory knows them (SAML givenName/sn); never guessed from `name` */
  givenName?: string | null;
  familyName?: string | null;
  groups: string[];
  /** where the user comes from: `local`, `ldap` or `upstream:<id>` (absent: local) */
  directory?: string;
  /** epoch seconds: sessions and tokens of sign-ins before it no longer count (the user was signed out everywhere) */
  sessionsNotBefore?: number;
}

/** Why a first factor failed. Every reason is shown to the user as the same `invalid_credentials`. */
export type FailureReason =
  | 'unknown_user'
  | 'wrong_password'
  | 'disabled'
  | 'no_password'
  /** the directory (Active Directory) says the account is locked out, or its password expired */
  | 'locked'
  | 'password_expired'
  /** the directory's entry cannot be a Poort user: its name is a local user's or another entry's, or unusable */
  | 'directory_conflict';

export type AuthenticationResult =
  | { ok: true; identity: Identity; rehash?: () => Promise<void> }
  | { ok: false; code: 'invalid_credentials'; reason: FailureReason; userId?: string }
  /** the directory that holds the password could not be asked (LDAP server down, refused the service account) */
  | { ok: false; code: 'directory_unavailable'; userId?: string };

/** Where users live: the local store, or an LDAP server / Active Directory (the router picks per user). */
export interface Directory {
  /** `ctx` says where the attempt comes from, for the events of what a directory changes on the way */
  authenticate(username: string, password: string, ctx?: AttemptSource): Promise<AuthenticationResult>;
  lookup(username: string): Promise<Identity | undefined>;
  findById(id: string): Promise<Identity | undefined>;
}

/**
 * Usernames compare case-insensitively and after Unicode normalisation. A NUL becomes U+FFFD: no username holds
 * either, and PostgreSQL refuses a NUL in text (a typed name is looked up, throttled and audited as it is).
 */
export function normaliseUsername(username: string): string {
  return username.normalize('NFKC').trim().toLowerCase().replace(/\0/g, '\uFFFD');
}

const USERNAME = /^[\p{L}\p{N}][\p{L}\p{N}._@-]{0,127}$/u;

export function isValidUsername(username: string): boolean {
  return USERNAME.test(username);
}
