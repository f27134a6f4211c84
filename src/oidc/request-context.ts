import { AsyncLocalStorage } from 'node:async_hooks';
import providerStorage from 'oidc-provider/lib/helpers/als.js';

/**
 * Runs oidc-provider's requests without its AsyncLocalStorage; true where it did so.
 *
 * oidc-provider enters an AsyncLocalStorage of its own for every request, only to hand the request to configuration
 * hooks that Poort leaves at their defaults or sets to numbers (function TTLs, `extraTokenClaims`,
 * `bitsOfOpaqueRandomness`, pairwise subjects, JWT customizers), to the client ID metadata document feature (off),
 * and to its static `Provider.ctx`, which Poort does not read (it is undefined from now on;
 * test/oidc/request-context.test.ts trips when an upgrade reads the storage elsewhere). On Node 20 an
 * AsyncLocalStorage in use turns on promise hooks for the whole process, and every promise then pays for three
 * callbacks: 12 % of the server CPU of a client-credentials grant on the test machine (`npm run bench`), 5 % of a
 * sign-in's main thread. From Node 24 (AsyncContextFrame) the storage costs little, and leaving it out changes
 * nothing else. Where oidc-provider's storage is not what this expects, it is left alone.
 */
export function withoutProviderRequestStorage(): boolean {
  if (!(providerStorage instanceof AsyncLocalStorage)) return false;
  Object.defineProperty(providerStorage, 'run', {
    value: <R>(_store: unknown, callback: (...args: unknown[]) => R, ...args: unknown[]): R =>
      callback(...args),
    configurable: true,
  });
  return true;
}
