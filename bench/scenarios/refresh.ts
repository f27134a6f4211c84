import { BenchError, basicAuth, CookieJar, expectJson, type HttpClient } from '../http.js';
import type { Workload } from '../load.js';
import { BENCH_CLIENT, benchUsername } from '../server.js';
import { signIn, type TokenResponse } from './signin.js';

/**
 * Refresh grants. Each virtual user signs in once (not measured), then follows its own chain: refresh tokens rotate,
 * so every refresh presents the token the previous one returned.
 */
export async function refreshWorkload(
  http: HttpClient,
  issuer: string,
  concurrency: number,
): Promise<Workload> {
  const authorization = basicAuth(BENCH_CLIENT.clientId, BENCH_CLIENT.secret);
  const chains: string[] = [];
  for (let vu = 0; vu < concurrency; vu++) {
    const tokens = await signIn(http, issuer, new CookieJar(), benchUsername(vu));
    if (!tokens.refresh_token) throw new BenchError('refresh setup', 'the sign-in returned no refresh token');
    chains.push(tokens.refresh_token);
  }
  return {
    name: 'refresh',
    concurrency,
    async op(vu) {
      const res = await http.request('POST', '/token', {
        headers: { authorization },
        form: { grant_type: 'refresh_token', refresh_token: chains[vu]! },
      });
      const tokens = expectJson<TokenResponse>('token (refresh_token)', res);
      if (!tokens.access_token || !tokens.refresh_token)
        throw new BenchError('token (refresh_token)', 'no access or refresh token', res);
      chains[vu] = tokens.refresh_token;
    },
  };
}
