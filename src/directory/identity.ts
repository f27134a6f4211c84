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
  /** epoch seconds: sessions and tokens of sign-ins before it no longer count (the user was signed out everywhere) */
  sessionsNotBefore?: number;
}

/** Why a first factor failed. Every reason is shown to the user as the same `invalid_credentials`. */
export type FailureReason = 'unknown_user' | 'wrong_password' | 'disabled' | 'no_password';

export type AuthenticationResult =
  | { ok: true; identity: Identity; rehash?: () => Promise<void> }
  | { ok: false; code: 'invalid_credentials'; reason: FailureReason; userId?: string };

/** Where users live: the local store now; LDAP/AD and upstream OpenID providers plug in here. */
export interface Directory {
  authenticate(username: string, password: string): Promise<AuthenticationResult>;
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
