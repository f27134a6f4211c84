import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { BenchError, CookieJar, type HttpClient, type HttpResponse } from '../http.js';
import type { Workload } from '../load.js';
import { BENCH_SP, benchUsername } from '../server.js';
import { signIn } from './signin.js';

const MAX_HOPS = 6;

/** An unsigned AuthnRequest over HTTP-Redirect, as a service provider sends one: fresh ID and IssueInstant. */
function authnRequestQuery(issuer: string): string {
  const xml =
    `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ` +
    `ID="_${crypto.randomBytes(16).toString('hex')}" Version="2.0" IssueInstant="${new Date().toISOString()}" ` +
    `Destination="${issuer}/saml/sso" AssertionConsumerServiceURL="${BENCH_SP.acs}" ` +
    `ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">` +
    `<saml:Issuer>${BENCH_SP.entityId}</saml:Issuer></samlp:AuthnRequest>`;
  return new URLSearchParams({
    SAMLRequest: zlib.deflateRawSync(Buffer.from(xml)).toString('base64'),
    RelayState: 'bench',
  }).toString();
}

/**
 * SAML single sign-on with an existing session: each virtual user signs in once over OpenID Connect (not measured),
 * then every operation is an SP-initiated round trip in that browser — AuthnRequest at /saml/sso, the authorization
 * request of Poort's SAML client answered from the session, the callback that signs the assertion — ending in the
 * page that posts the SAMLResponse to the SP's ACS (which is never contacted).
 */
export async function samlWorkload(http: HttpClient, issuer: string, concurrency: number): Promise<Workload> {
  const jars: CookieJar[] = [];
  for (let vu = 0; vu < concurrency; vu++) {
    const jar = new CookieJar();
    await signIn(http, issuer, jar, benchUsername(vu));
    jars.push(jar);
  }
  const get = async (jar: CookieJar, step: string, path: string): Promise<HttpResponse> => {
    const cookie = jar.header(path.split('?')[0]!);
    const res = await http.request('GET', path, { headers: cookie ? { cookie } : {} });
    jar.store(res.headers['set-cookie']);
    if (res.status >= 400) throw new BenchError(step, `GET ${path.split('?')[0]}`, res);
    return res;
  };
  return {
    name: 'saml',
    concurrency,
    async op(vu) {
      const jar = jars[vu]!;
      let res = await get(jar, 'sso', `/saml/sso?${authnRequestQuery(issuer)}`);
      for (let hop = 0; res.status >= 300 && res.status < 400; hop++) {
        if (hop >= MAX_HOPS) throw new BenchError('sso', `more than ${MAX_HOPS} redirects`);
        const next = new URL(String(res.headers.location), issuer);
        res = await get(jar, `sso (redirect ${hop + 1})`, next.pathname + next.search);
      }
      if (res.status !== 200 || !/name="SAMLResponse"/.test(res.body) || !res.body.includes(BENCH_SP.acs))
        throw new BenchError('sso', 'expected the page that posts the SAMLResponse to the ACS', res);
    },
  };
}
