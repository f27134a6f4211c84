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

/**
 * Whether the provider left the groups claim out because there were too many for a token and said where to get
 * them instead: OpenID Connect's distributed or aggregated claims (`_claim_names`), which Entra ID sends for
 * someone in more than 200 groups (its "groups overage"), or Entra's `hasgroups` of implicit sign-ins.
 */
function groupsLeftOut(claims: Record<string, unknown>, claim: string): boolean {
  if (claims[claim] !== undefined) return false;
  const names = claims._claim_names;
  if (names !== null && typeof names === 'object' && claim in names) return true;
  return claims.hasgroups === true || claims.hasgroups === 'true';
}

/**
 * What Poort keeps of a user, from the claims the provider stated (ID token, then userinfo). `groups` is null where
 * the provider left them out (too many): the user's groups in Poort then stay as they were, rather than being
 * emptied by a sign-in that says nothing about them.
 */
export function upstreamProfile(
  claims: Record<string, unknown>,
  mapping: UpstreamProviderConfig['claims'],
): { profile: ExternalProfile; groups: string[] | null } | ClaimProblem {
  const id = text(claims[mapping.id]);
  if (!id) return { problem: 'no_id', claim: mapping.id };
  const username = normaliseUsername(text(claims[mapping.username]) ?? '');
  if (!isValidUsername(username)) return { problem: 'invalid_username', claim: mapping.username };
  const email = text(claims[mapping.email]) ?? (EMAIL.test(username) ? username : null);
  if (!email || !EMAIL.test(email) || email.length > 254)
    return { problem: 'invalid_email', claim: mapping.email };
  if (groupsLeftOut(claims, mapping.groups))
    return { profile: profileOf(claims, mapping, id, username, email), groups: null };
  const rawGroups = claims[mapping.groups];
  const groups = (Array.isArray(rawGroups) ? rawGroups : rawGroups === undefined ? [] : [rawGroups])
    .map(text)
    .filter((g): g is string => g !== null);
  return { profile: profileOf(claims, mapping, id, username, email), groups: [...new Set(groups)].sort() };
}

function profileOf(
  claims: Record<string, unknown>,
  mapping: UpstreamProviderConfig['claims'],
  externalId: string,
  username: string,
  email: string,
): ExternalProfile {
  return {
    externalId,
    username,
    email,
    name: text(claims[mapping.name]),
    givenName: text(claims[mapping.given_name]),
    familyName: text(claims[mapping.family_name]),
  };
}

export function isClaimProblem(p: ReturnType<typeof upstreamProfile>): p is ClaimProblem {
  return 'problem' in p;
}
