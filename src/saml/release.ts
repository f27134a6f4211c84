import crypto from 'node:crypto';
import type { Identity } from '../directory/identity.js';
import type { NameIdFormat, ReleasedAttribute } from './config.js';
import { NAME_ID_URNS, type Attribute } from './idp.js';

/**
 * A persistent NameID: opaque, stable, and different for every SP (pairwise), so SPs cannot join their users up.
 * An HMAC of the SP and the user under a key derived from Poort's secret material: every node derives the same one.
 */
export function persistentNameId(key: Buffer, entityId: string, userId: string): string {
  return crypto
    .createHmac('sha256', key)
    .update(`${entityId.length}:${entityId}|${userId}`)
    .digest('base64url');
}

export function nameIdFor(
  format: NameIdFormat,
  identity: Pick<Identity, 'id' | 'email' | 'username'>,
  entityId: string,
  key: Buffer,
): { format: string; value: string } {
  switch (format) {
    case 'emailAddress':
      return { format: NAME_ID_URNS.emailAddress, value: identity.email };
    case 'unspecified':
      return { format: NAME_ID_URNS.unspecified, value: identity.username };
    default:
      return { format: NAME_ID_URNS.persistent, value: persistentNameId(key, entityId, identity.id) };
  }
}

/** The attributes released to an SP, as its settings name them; an empty user field is left out. */
export function releasedAttributes(identity: Identity, released: ReleasedAttribute[]): Attribute[] {
  return released.map((a) => {
    if (a.value !== undefined) return { name: a.name, values: [a.value] };
    const value = {
      email: identity.email,
      given_name: identity.givenName ?? undefined,
      family_name: identity.familyName ?? undefined,
      name: identity.name ?? undefined,
      username: identity.username,
      groups: identity.groups,
    }[a.source!];
    const values = Array.isArray(value) ? value : value ? [value] : [];
    return { name: a.name, values };
  });
}
