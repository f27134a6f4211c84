import { BenchError, basicAuth, expectJson, type HttpClient } from '../http.js';
import type { Workload } from '../load.js';
import { BENCH_CLIENT } from '../server.js';
import type { TokenResponse } from './signin.js';

/** A machine client asking for an access token with its own credentials (client_secret_basic). */
export function clientCredentialsWorkload(http: HttpClient, concurrency: number): Workload {
  const authorization = basicAuth(BENCH_CLIENT.clientId, BENCH_CLIENT.secret);
  return {
    name: 'cc',
    concurrency,
    async op() {
      const res = await http.request('POST', '/token', {
        headers: { authorization },
        form: { grant_type: 'client_credentials' },
      });
      const tokens = expectJson<TokenResponse>('token (client_credentials)', res);
      if (!tokens.access_token) throw new BenchError('token (client_credentials)', 'no access token', res);
    },
  };
}
