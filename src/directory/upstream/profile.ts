import { isValidUsername, normaliseUsername } from '../identity.js';
import type { ExternalProfile } from '../users.js';
import type { UpstreamProviderConfig } from './config.js';

/** Why a provider's claims cannot make a Poort user; the log names the claim. */
export type ClaimProblem = { problem: 'no_id' | 'invalid_username' | 'invalid_email'; claim: string };

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function text(value: unknown): string | null {
  if (typeof value === 'string') return value.trim() || null;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

/** What Poort keeps of a user, from the claims the provider stated (ID token, then userinfo). */
export function upstreamProfile(
  claims: Record<string, unknown>,
  mapping: UpstreamProviderConfig['claims'],
): { profile: ExternalProfile; groups: string[] } | ClaimProblem {
  const id = text(claims[mapping.id]);
  if (!id) return { problem: 'no_id', claim: mapping.id };
  const username = normaliseUsername(text(claims[mapping.username]) ?? '');
  if (!isValidUsername(username)) return { problem: 'invalid_username', claim: mapping.username };
  const email = text(claims[mapping.email]) ?? (EMAIL.test(username) ? username : null);
  if (!email || !EMAIL.test(email) || email.length > 254)
    return { problem: 'invalid_email', claim: mapping.email };
  const rawGroups = claims[mapping.groups];
  const groups = (Array.isArray(rawGroups) ? rawGroups : rawGroups === undefined ? [] : [rawGroups])
    .map(text)
    .filter((g): g is string => g !== null);
  return {
    profile: {
      externalId: id,
      username,
      email,
      name: text(claims[mapping.name]),
      givenName: text(claims[mapping.given_name]),
      familyName: text(claims[mapping.family_name]),
    },
    groups: [...new Set(groups)].sort(),
  };
}

export function isClaimProblem(p: ReturnType<typeof upstreamProfile>): p is ClaimProblem {
  return 'problem' in p;
}
