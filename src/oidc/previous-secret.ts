import crypto from 'node:crypto';
import type Provider from 'oidc-provider';
import { clientField } from './client-flags.js';

/**
 * Whether `actual` is the secret a client had before its last change, kept working for a while (`poort client update
 * --secret-stdin --keep-old-secret`) so that every instance of the application can move to the new one. Compared in
 * constant time; an expired one never matches, cached or not.
 */
export function previousSecretMatches(client: Record<string, unknown>, actual: string): boolean {
  const secret = clientField(client, 'poort_previous_secret');
  const until = clientField(client, 'poort_previous_secret_expires_at');
  if (typeof secret !== 'string' || typeof until !== 'number' || until * 1000 <= Date.now()) return false;
  const digest = (value: string) => crypto.createHash('sha256').update(value).digest();
  return crypto.timingSafeEqual(digest(secret), digest(actual));
}

/**
 * Lets the token endpoint (client_secret_basic, client_secret_post) accept a client's previous secret while it is
 * kept. oidc-provider compares one secret (Client#compareClientSecret); its Client class is this provider's own, so
 * the change reaches no other provider.
 */
export function acceptPreviousSecrets(provider: Provider): void {
  const prototype = provider.Client.prototype as unknown as {
    compareClientSecret(this: Record<string, unknown>, actual: string): boolean | Promise<boolean>;
  };
  const current = prototype.compareClientSecret;
  prototype.compareClientSecret = async function (actual) {
    return (await current.call(this, actual)) || previousSecretMatches(this, actual);
  };
}
