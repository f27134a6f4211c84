import { acrFor, satisfies, type AcrValues, type Requirement, type Strength } from '../mfa/strength.js';

export const PASSWORD_PROTECTED_TRANSPORT =
  'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';

const RANK: Record<Requirement, number> = { none: 0, any: 1, totp: 2, phishing_resistant: 3 };
/** The levels `better` climbs: TOTP is not a level above "any second factor" for an SP that names a class. */
const LEVELS: Requirement[] = ['none', 'any', 'phishing_resistant'];

/**
 * What each AuthnContextClassRef stands for, in the strengths Poort's policies speak of: password-only classes,
 * multi-factor classes (Poort's own mfa acr, the REFEDS MFA profile), a time-based one-time password (TimeSyncToken:
 * TOTP or stronger, never a code sent by e-mail or SMS), and the phishing-resistant acr.
 */
export function classStrengths(acr: AcrValues): Map<string, Requirement> {
  return new Map<string, Requirement>([
    [PASSWORD_PROTECTED_TRANSPORT, 'none'],
    ['urn:oasis:names:tc:SAML:2.0:ac:classes:Password', 'none'],
    ['urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified', 'none'],
    [acr.password, 'none'],
    [acr.mfa, 'any'],
    ['https://refeds.org/profile/mfa', 'any'],
    ['urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract', 'any'],
    ['urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken', 'totp'],
    [acr.phishing_resistant, 'phishing_resistant'],
  ]);
}

export interface RequestedAuthnContext {
  comparison: 'exact' | 'minimum' | 'better' | 'maximum';
  classRefs: string[];
}

/**
 * The second factor a RequestedAuthnContext asks for, or undefined when Poort cannot satisfy it (NoAuthnContext).
 * exact and minimum: the weakest listed class Poort knows; better: one level above the strongest listed;
 * maximum: no more than the weakest listed — any sign-in (Poort reports what was really used).
 */
export function requirementFor(
  requested: RequestedAuthnContext | undefined,
  acr: AcrValues,
): Requirement | undefined {
  if (!requested || requested.classRefs.length === 0) return 'none';
  const strengths = classStrengths(acr);
  const known = requested.classRefs
    .map((ref) => strengths.get(ref))
    .filter((r): r is Requirement => r !== undefined);
  if (known.length === 0) return undefined;
  switch (requested.comparison) {
    case 'maximum':
      return 'none';
    case 'better': {
      const strongest = Math.max(...known.map((r) => RANK[r]));
      return LEVELS.find((level) => RANK[level] > strongest);
    }
    default:
      return known.reduce((weakest, r) => (RANK[r] < RANK[weakest] ? r : weakest));
  }
}

/**
 * The acr_values that ask oidc-provider's sign-in for this requirement (a step-up where the session is weaker). TOTP
 * has no acr of its own: it is asked with the multi-factor acr and SP_REQUIREMENT_PARAM.
 */
export function acrValuesFor(requirement: Requirement, acr: AcrValues): string | undefined {
  if (requirement === 'none') return undefined;
  return requirement === 'phishing_resistant' ? acr.phishing_resistant : acr.mfa;
}

/**
 * The AuthnContextClassRef to report for a sign-in whose second factor had `strength` (undefined: password only).
 * Where the SP asked for classes (exact, minimum or maximum), the strongest listed class the sign-in satisfies, so
 * that an SP asking for, say, the REFEDS MFA profile gets that class back (with exact comparison SAML requires one of
 * the listed classes). Otherwise, and for `better`, what was really used: PasswordProtectedTransport, or the
 * multi-factor or phishing-resistant acr.
 */
export function classRefFor(
  strength: Strength | undefined,
  acr: AcrValues,
  requested?: RequestedAuthnContext,
): string {
  if (requested && requested.comparison !== 'better') {
    const strengths = classStrengths(acr);
    let best: { ref: string; rank: number } | undefined;
    for (const ref of requested.classRefs) {
      const asks = strengths.get(ref);
      if (asks === undefined || !satisfies(strength, asks)) continue;
      if (!best || RANK[asks] > best.rank) best = { ref, rank: RANK[asks] };
    }
    if (best) return best.ref;
  }
  return strength === undefined ? PASSWORD_PROTECTED_TRANSPORT : acrFor(strength, acr);
}
