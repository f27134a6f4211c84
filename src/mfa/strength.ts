/** How strong a second factor is: one-time codes sent over e-mail or SMS < TOTP < phishing-resistant (WebAuthn). */
export type Strength = 'otp' | 'totp' | 'phishing_resistant';

/** What a sign-in must show beyond the password: nothing, any second factor, or at least a given strength. */
export type Requirement = 'none' | 'any' | 'totp' | 'phishing_resistant';

const RANK: Record<Requirement | Strength, number> = {
  none: 0,
  any: 1,
  otp: 1,
  totp: 2,
  phishing_resistant: 3,
};

export function satisfies(strength: Strength | undefined, requirement: Requirement): boolean {
  if (requirement === 'none') return true;
  return strength !== undefined && RANK[strength] >= RANK[requirement];
}

/** The stricter of two requirements. */
export function stricter(a: Requirement, b: Requirement): Requirement {
  return RANK[b] > RANK[a] ? b : a;
}

export interface AcrValues {
  password: string;
  mfa: string;
  phishing_resistant: string;
}

/** The acr a sign-in earned: password only, multi-factor, or phishing-resistant multi-factor. */
export function acrFor(strength: Strength | undefined, acr: AcrValues): string {
  if (strength === undefined) return acr.password;
  return strength === 'phishing_resistant' ? acr.phishing_resistant : acr.mfa;
}

/** The requirement an application states with acr_values (any of the listed values is acceptable: the weakest). */
export function requirementForAcr(values: readonly string[], acr: AcrValues): Requirement {
  if (values.length === 0) return 'none';
  if (values.includes(acr.password)) return 'none';
  if (values.includes(acr.mfa)) return 'any';
  if (values.includes(acr.phishing_resistant)) return 'phishing_resistant';
  return 'none';
}

/**
 * The strength an acr stands for, to compare it with what an application asks. The multi-factor acr does not say
 * which factor was used, so it counts as the weakest (a code by e-mail or SMS); SessionStrengths
 * (src/oidc/session-strength.ts) knows more of a single sign-on session.
 */
export function strengthOfAcr(value: string | undefined, acr: AcrValues): Strength | undefined {
  if (value === acr.phishing_resistant) return 'phishing_resistant';
  if (value === acr.mfa) return 'otp';
  return undefined;
}
