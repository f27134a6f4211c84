import { startSlapd as start, type Slapd } from '../../bench/slapd.js';
import { selfSignedCertificate } from './saml-keys.js';

export {
  BASE_DN,
  GROUPS,
  ldapYaml,
  PEOPLE,
  SERVICE_DN,
  SERVICE_PASSWORD,
  type Slapd,
} from '../../bench/slapd.js';

/**
 * A real OpenLDAP slapd for one test file (bench/slapd.ts); with `tls`, also ldaps:// and StartTLS, under a
 * self-signed certificate for 127.0.0.1 (`slapd.certificate`: trust it as the CA).
 */
export async function startSlapd(options: { tls?: boolean } = {}): Promise<Slapd> {
  return start(
    options.tls ? { tls: await selfSignedCertificate('127.0.0.1', { ipAddresses: ['127.0.0.1'] }) } : {},
  );
}
