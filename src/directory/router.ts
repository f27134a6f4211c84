import type { AttemptSource, AuthenticationResult, Directory, Identity } from './identity.js';
import type { LocalDirectory } from './local.js';
import type { LdapDirectory } from './ldap/directory.js';
import type { UserRepository } from './users.js';

/**
 * Finds the directory that holds a user's password: a local user's is checked here, everyone else's (LDAP users,
 * and names Poort does not know yet) by the LDAP server, where one is configured. A local user keeps a name that an
 * LDAP entry also has. Identities come from Poort's store either way: LDAP users' rows are kept in line with the
 * directory at each sign-in and sync.
 */
export class DirectoryRouter implements Directory {
  constructor(
    private readonly users: UserRepository,
    private readonly local: LocalDirectory,
    private readonly ldap?: LdapDirectory,
  ) {}

  async authenticate(username: string, password: string, ctx?: AttemptSource): Promise<AuthenticationResult> {
    const row = await this.users.findCredentials(username);
    if (!this.ldap || row?.directory === 'local') return this.local.check(row, password);
    return this.ldap.authenticate(username, password, ctx);
  }

  lookup(username: string): Promise<Identity | undefined> {
    return this.local.lookup(username);
  }

  findById(id: string): Promise<Identity | undefined> {
    return this.local.findById(id);
  }
}
