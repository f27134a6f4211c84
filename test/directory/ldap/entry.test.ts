import { describe, expect, it } from 'vitest';
import { ldapConfigSchema } from '../../../src/directory/ldap/config.js';
import {
  bindFailure,
  firstRdnValue,
  groupFilter,
  guidString,
  isUnder,
  profileOf,
  userAttributes,
  userFilter,
} from '../../../src/directory/ldap/entry.js';
import { ldapSettings } from '../../../src/directory/ldap/settings.js';

const openldap = ldapSettings(
  ldapConfigSchema.parse({
    url: 'ldap://ldap.example.org',
    users: { base_dn: 'ou=people,dc=example,dc=org' },
    groups: { base_dn: 'ou=groups,dc=example,dc=org' },
  }),
);
const ad = ldapSettings(
  ldapConfigSchema.parse({
    type: 'active_directory',
    url: 'ldaps://dc1.example.org',
    users: { base_dn: 'dc=example,dc=org' },
  }),
);

describe('filters', () => {
  it('escape what the user typed (RFC 4515), so that it is only ever a value', () => {
    expect(userFilter(openldap, 'jan')).toBe('(&(objectClass=inetOrgPerson)(uid=jan))');
    expect(userFilter(openldap, '*)(uid=*')).toBe('(&(objectClass=inetOrgPerson)(uid=\\2a\\29\\28uid=\\2a))');
    expect(userFilter(openldap, 'a\\b\0')).toBe('(&(objectClass=inetOrgPerson)(uid=a\\5cb\\00))');
    expect(userFilter(ad, 'piet')).toBe(
      '(&(&(objectCategory=person)(objectClass=user))(sAMAccountName=piet))',
    );
    expect(groupFilter(openldap, ['uid=jan,ou=people,dc=example,dc=org'])).toBe(
      '(&(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))(member=uid=jan,ou=people,dc=example,dc=org))',
    );
  });

  it('ask for the attributes of the type, binary ones apart', () => {
    expect(userAttributes(ad)).toEqual({
      attributes: [
        'sAMAccountName',
        'objectGUID',
        'mail',
        'displayName',
        'givenName',
        'sn',
        'memberOf',
        'userAccountControl',
      ],
      binary: ['objectGUID'],
    });
    expect(userAttributes(openldap).binary).toEqual([]);
  });
});

describe('an entry as a Poort user', () => {
  const guid = Buffer.from('78563412cdab01ef0123456789abcdef', 'hex');

  it('takes objectGUID as Windows prints it, and reads Active Directory’s disabled flag', () => {
    expect(guidString(guid)).toBe('12345678-abcd-ef01-0123-456789abcdef');
    const entry = {
      dn: 'CN=Piet Jansen,OU=Staff,DC=example,DC=org',
      sAMAccountName: 'PJansen',
      objectGUID: guid,
      mail: 'piet@example.org',
      displayName: 'Piet Jansen',
      memberOf: ['CN=Docenten,OU=Groups,DC=example,DC=org'],
      userAccountControl: '514',
    };
    expect(profileOf(entry, ad)).toEqual({
      externalId: '12345678-abcd-ef01-0123-456789abcdef',
      dn: entry.dn,
      username: 'pjansen',
      uid: 'PJansen',
      email: 'piet@example.org',
      name: 'Piet Jansen',
      givenName: null,
      familyName: null,
      memberOf: ['CN=Docenten,OU=Groups,DC=example,DC=org'],
      disabled: true,
    });
    expect(profileOf({ ...entry, userAccountControl: '512' }, ad)).toMatchObject({ disabled: false });
  });

  it('names the attribute an unusable entry lacks', () => {
    const entry = { dn: 'uid=x,dc=example,dc=org', entryUUID: 'A-B', uid: 'x', mail: 'x@example.org' };
    expect(profileOf(entry, openldap)).toMatchObject({ externalId: 'a-b', username: 'x' });
    expect(profileOf({ ...entry, entryUUID: [] as string[] }, openldap)).toEqual({
      problem: 'no_id',
      attribute: 'entryUUID',
    });
    expect(profileOf({ ...entry, uid: 'has space' }, openldap)).toEqual({
      problem: 'invalid_username',
      attribute: 'uid',
    });
    expect(profileOf({ ...entry, mail: 'not an address' }, openldap)).toEqual({
      problem: 'invalid_email',
      attribute: 'mail',
    });
  });
});

describe('DNs', () => {
  it('give the value of their first RDN, escapes undone', () => {
    expect(firstRdnValue('cn=Staff,ou=groups,dc=example,dc=org')).toBe('Staff');
    expect(firstRdnValue('CN=Smith\\, John,OU=x')).toBe('Smith, John');
    expect(firstRdnValue('cn=Z\\C3\\BCrich,ou=x')).toBe('Zürich');
    expect(firstRdnValue('cn=Ärzte+ou=x,dc=y')).toBe('Ärzte');
    expect(firstRdnValue('no-equals-sign')).toBeNull();
  });

  it('lie under a base whatever the case and the spaces after commas', () => {
    expect(isUnder('CN=Docenten, OU=Groups,DC=Example,DC=org', 'ou=groups,dc=example,dc=org')).toBe(true);
    expect(isUnder('cn=x,ou=other,dc=example,dc=org', 'ou=groups,dc=example,dc=org')).toBe(false);
    expect(isUnder('cn=x,ou=notgroups,dc=example,dc=org', 'ou=groups,dc=example,dc=org')).toBe(false);
  });
});

describe('a refused bind', () => {
  it('says why by Active Directory’s data code, and is a wrong password otherwise', () => {
    const ad = (code: string) =>
      `80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data ${code}, v4563`;
    expect(bindFailure(ad('52e'))).toBe('wrong_password');
    expect(bindFailure(ad('533'))).toBe('disabled');
    expect(bindFailure(ad('701'))).toBe('disabled');
    expect(bindFailure(ad('775'))).toBe('locked');
    expect(bindFailure(ad('532'))).toBe('password_expired');
    expect(bindFailure(ad('773'))).toBe('password_expired');
    expect(bindFailure('Invalid credentials')).toBe('wrong_password');
  });
});
