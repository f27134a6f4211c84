import type { AuditLog } from '../../audit/log.js';
import type { Logger } from '../../log/logger.js';
import type { GroupRepository } from '../groups.js';
import type { PasswordHasher } from '../password-hash.js';
import type { UserRepository } from '../users.js';
import { ExternalAccounts } from '../external-accounts.js';
import type { LdapConfig } from './config.js';
import { LdapDirectory } from './directory.js';
import { LdapGateway } from './gateway.js';
import { ldapSettings, type LdapSettings } from './settings.js';
import { LdapSync } from './sync.js';

/** The LDAP directory's parts, for the server (sign-in, scheduled sync) and the CLI (`poort ldap`). */
export interface LdapServices {
  settings: LdapSettings;
  gateway: LdapGateway;
  directory: LdapDirectory;
  sync: LdapSync;
}

export function ldapServices(
  config: LdapConfig,
  deps: {
    users: UserRepository;
    groups: GroupRepository;
    audit: AuditLog;
    hasher: PasswordHasher;
    log: Logger;
  },
): LdapServices {
  const settings = ldapSettings(config);
  const gateway = new LdapGateway(settings, deps.log);
  const accounts = new ExternalAccounts({
    directory: 'ldap',
    users: deps.users,
    groups: deps.groups,
    audit: deps.audit,
    log: deps.log,
    createMissingGroups: settings.groups.createMissing,
  });
  return {
    settings,
    gateway,
    directory: new LdapDirectory(gateway, accounts, deps.users, deps.hasher, deps.log),
    sync: new LdapSync(gateway, accounts, deps.users, deps.audit),
  };
}
