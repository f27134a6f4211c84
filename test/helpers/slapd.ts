import {
  GROUPS,
  PEOPLE,
  SERVICE_DN,
  SERVICE_PASSWORD,
  startSlapd as start,
  type Slapd,
} from '../../bench/slapd.js';
import { ldapConfigSchema } from '../../src/directory/ldap/config.js';
import { LdapGateway } from '../../src/directory/ldap/gateway.js';
import { ldapSettings } from '../../src/directory/ldap/settings.js';
import type { Logger } from '../../src/log/logger.js';
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

/**
 * A gateway to `slapd` as the service account, users under ou=people and groups under ou=groups; `settings` is more
 * of the ldap section (a `groups` in it replaces the default one).
 */
export function gatewayTo(
  slapd: Pick<Slapd, 'url'>,
  settings: Record<string, unknown> = {},
  log?: Logger,
): LdapGateway {
  return new LdapGateway(
    ldapSettings(
      ldapConfigSchema.parse({
        url: slapd.url,
        bind_dn: SERVICE_DN,
        bind_password: SERVICE_PASSWORD,
        timeout: 2,
        users: { base_dn: PEOPLE },
        groups: { base_dn: GROUPS },
        ...settings,
      }),
    ),
    log,
  );
}
