import fs from 'node:fs';
import path from 'node:path';
import { FAST_ARGON2 } from '../helpers/oidc.js';
import { startPoort, tempDir, type TestPoort } from '../helpers/poort.js';

/** The policy of issue 5, as a security officer would write it. */
export const ISSUE_POLICY = `
networks:
  office: [192.0.2.0/24, "2001:db8:1::/48"]
  vpn: [198.51.100.0/24]
applications:
  payroll: { classification: high }
rules:
  - id: block-embargoed
    when: { country: { in: [KP, IR] } }
    then: deny
  - id: outside-trusted-networks
    when: { network: { not_in: [office, vpn] } }
    then: { mfa: { strength: any } }
  - id: byod-mobile
    when: { device: { type: [mobile, tablet], managed: false } }
    then: { mfa: { strength: any } }
  - id: sensitive-apps
    when: { application: { classification: [high] } }
    then: { mfa: { strength: phishing_resistant, max_age: 8h } }
  - id: impossible-travel
    when: { impossible_travel: true }
    then: { mfa: { strength: totp } }
    mode: report_only
default: allow
`;

/** A Poort behind a TLS-terminating proxy on loopback (its X-Forwarded-For is believed), with `policy` in force. */
export async function startPolicyPoort(policy: string, extra = ''): Promise<TestPoort> {
  const file = path.join(tempDir('poort-policy-'), 'policies.yaml');
  fs.writeFileSync(file, policy);
  const poort = await startPoort(
    `${FAST_ARGON2}server: { trust_proxy: [127.0.0.1/32, "::1/128"] }\n` +
      // Only the policy asks for a second factor here, and nobody may set one up during these sign-ins.
      'mfa: { required: never, enrolment_at_signin: { with_enrolment_code: false } }\n' +
      `policies: { file: ${JSON.stringify(file)} }\n${extra}`,
  );
  const stop = poort.stop.bind(poort);
  poort.stop = async () => {
    await stop();
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  };
  return poort;
}
