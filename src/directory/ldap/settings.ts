import type { LdapConfig } from './config.js';

/** The LDAP configuration with every default of its `type` filled in. */
export interface LdapSettings {
  type: LdapConfig['type'];
  urls: string[];
  startTls: boolean;
  caFile?: string;
  bindDn?: string;
  bindPassword?: string;
  timeoutMs: number;
  users: {
    baseDn: string;
    filter: string;
    usernameAttribute: string;
    idAttribute: string;
    emailAttribute: string;
    nameAttribute: string;
    givenNameAttribute: string;
    familyNameAttribute: string;
  };
  groups: {
    membership: 'search' | 'member_of' | 'none';
    baseDn?: string;
    filter: string;
    memberAttribute: string;
    memberValue: 'dn' | 'username';
    nameAttribute: string;
    createMissing: boolean;
    /** also the groups a user is in through other groups */
    nested: boolean;
  };
  syncIntervalSeconds: number;
}

const DEFAULTS = {
  openldap: {
    userFilter: '(objectClass=inetOrgPerson)',
    usernameAttribute: 'uid',
    idAttribute: 'entryUUID',
    nameAttribute: 'cn',
    membership: 'search',
    groupFilter: '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))',
  },
  active_directory: {
    // people, not computers (which are users too)
    userFilter: '(&(objectCategory=person)(objectClass=user))',
    usernameAttribute: 'sAMAccountName',
    idAttribute: 'objectGUID',
    nameAttribute: 'displayName',
    membership: 'member_of',
    groupFilter: '(objectClass=group)',
  },
} as const;

export function ldapSettings(config: LdapConfig): LdapSettings {
  const d = DEFAULTS[config.type];
  return {
    type: config.type,
    urls: typeof config.url === 'string' ? [config.url] : (config.url ?? []),
    startTls: config.start_tls,
    ...(config.tls.ca_file ? { caFile: config.tls.ca_file } : {}),
    ...(config.bind_dn ? { bindDn: config.bind_dn } : {}),
    ...(config.bind_password ? { bindPassword: config.bind_password } : {}),
    timeoutMs: config.timeout * 1000,
    users: {
      baseDn: config.users.base_dn,
      filter: config.users.filter ?? d.userFilter,
      usernameAttribute: config.users.username_attribute ?? d.usernameAttribute,
      idAttribute: config.users.id_attribute ?? d.idAttribute,
      emailAttribute: config.users.email_attribute,
      nameAttribute: config.users.name_attribute ?? d.nameAttribute,
      givenNameAttribute: config.users.given_name_attribute,
      familyNameAttribute: config.users.family_name_attribute,
    },
    groups: {
      membership: config.groups.membership ?? d.membership,
      ...(config.groups.base_dn ? { baseDn: config.groups.base_dn } : {}),
      filter: config.groups.filter ?? d.groupFilter,
      memberAttribute: config.groups.member_attribute,
      memberValue: config.groups.member_value,
      nameAttribute: config.groups.name_attribute,
      createMissing: config.groups.create_missing,
      nested: config.groups.nested,
    },
    syncIntervalSeconds: config.sync_interval,
  };
}
