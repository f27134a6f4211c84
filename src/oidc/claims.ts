import type { Identity } from '../directory/identity.js';

/** Which claims each scope releases. */
export const SCOPE_CLAIMS = {
  // oidc-provider states acr, amr and auth_time only when asked; applications and auditors need them every time.
  openid: ['sub', 'acr', 'amr', 'auth_time', 'sid'],
  profile: ['name', 'preferred_username'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
} as const;

export const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'groups'];

/** The claims Poort can state about a person; oidc-provider filters them by the granted scopes and claims. */
export function identityClaims(identity: Identity): Record<string, unknown> {
  return {
    sub: identity.id,
    name: identity.name ?? identity.username,
    preferred_username: identity.username,
    email: identity.email,
    // Addresses are entered by the organisation's administrators, not by the person: the organisation vouches for them.
    email_verified: true,
    groups: identity.groups,
  };
}
