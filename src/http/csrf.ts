import crypto from 'node:crypto';

/**
 * Stateless CSRF tokens: an HMAC of what the form is bound to (the pending interaction). The interaction itself is
 * bound to a SameSite cookie, so a forged cross-site POST fails twice.
 */
export function csrfToken(key: Buffer, binding: string): string {
  return crypto.createHmac('sha256', key).update(`csrf:${binding}`).digest('base64url');
}

export function verifyCsrfToken(key: Buffer, binding: string, token: unknown): boolean {
  if (typeof token !== 'string' || token.length > 100) return false;
  const expected = Buffer.from(csrfToken(key, binding));
  const given = Buffer.from(token);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}
