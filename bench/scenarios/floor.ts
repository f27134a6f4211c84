import { BenchError, type HttpClient } from '../http.js';
import type { Workload } from '../load.js';

/**
 * Reference points, not targets: what one request costs the server before any protocol work. `healthz` goes through
 * Express and Poort's middleware only; `discovery` also through oidc-provider's Koa stack (a cached JSON document).
 */
export function floorWorkload(
  http: HttpClient,
  name: 'healthz' | 'discovery',
  concurrency: number,
): Workload {
  const path = name === 'healthz' ? '/healthz' : '/.well-known/openid-configuration';
  return {
    name,
    concurrency,
    async op() {
      const res = await http.request('GET', path);
      if (res.status !== 200) throw new BenchError(name, `GET ${path}`, res);
    },
  };
}
