import fs from 'node:fs';
import path from 'node:path';
import { FAST_ARGON2 } from '../helpers/oidc.js';
import { startPoort, tempDir, type TestPoort } from '../helpers/poort.js';
import { ISSUE_EXAMPLE } from './fixture.js';

/** The policy of issue 5, as a security officer would write it. */
export const ISSUE_POLICY = ISSUE_EXAMPLE;

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
