import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { isStoreUnavailable, RETRY_AFTER_SECONDS } from '../store/unavailable.js';

type Next = () => Promise<void>;

interface OutageState {
  storeUnavailable?: boolean;
}

const TEMPORARILY_UNAVAILABLE = {
  error: 'temporarily_unavailable',
  error_description: 'a store Poort needs cannot be reached; try again later',
};

/**
 * oidc-provider answers an unexpected error inside an endpoint with 500 `server_error`, and one after it (saving
 * the session once the response is ready) with Koa's bare 500. When the cause is a store that cannot be reached,
 * the answer becomes 503 with Retry-After: `temporarily_unavailable` (RFC 6749 §4.1.2.1) for JSON clients, Poort's
 * page for browsers. Nothing else of the response is kept: no token, no redirect. Endpoint errors that oidc-provider
 * renders as HTML get their page in renderError.
 */
export function storeOutageResponses(
  provider: Provider,
  unavailablePage: (ctx: KoaContextWithOIDC) => string,
) {
  provider.on('server_error', (ctx, err) => {
    if (isStoreUnavailable(err)) (ctx.state as OutageState).storeUnavailable = true;
  });
  return async (ctx: KoaContextWithOIDC, next: Next) => {
    try {
      await next();
    } catch (err) {
      if (!isStoreUnavailable(err)) throw err;
      ctx.remove('location');
      if (ctx.accepts('json', 'html') === 'html') {
        ctx.type = 'html';
        ctx.body = unavailablePage(ctx);
      } else ctx.body = TEMPORARILY_UNAVAILABLE;
      (ctx.state as OutageState).storeUnavailable = true;
    }
    if (!(ctx.state as OutageState).storeUnavailable) return;
    ctx.status = 503;
    ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
    const body = ctx.body as { error?: unknown } | undefined;
    if (body && typeof body === 'object' && !Buffer.isBuffer(body) && body.error === 'server_error')
      ctx.body = TEMPORARILY_UNAVAILABLE;
  };
}
