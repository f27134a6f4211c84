import type { AuthenticationResult, Directory, Identity } from './identity.js';
import type { PasswordHasher } from './password-hash.js';
import { toIdentity, type UserRepository } from './users.js';

type Credentials = NonNullable<Awaited<ReturnType<UserRepository['findCredentials']>>>;

/**
 * The local user store. Unknown, disabled and password-less users cost one argon2id verification like everyone
 * else, and all failures look the same to the caller's user; only the reason (for the audit trail) differs.
 */
export class LocalDirectory implements Directory {
  constructor(
    private readonly users: UserRepository,
    private readonly hasher: PasswordHasher,
  ) {}

  async authenticate(username: string, password: string): Promise<AuthenticationResult> {
    return this.check(await this.users.findCredentials(username), password);
  }

  /** Checks a password against a row already read (undefined: nobody of that name). */
  async check(row: Credentials | undefined, password: string): Promise<AuthenticationResult> {
    if (!row || row.password_hash === null || row.enabled !== 1) {
      await this.hasher.verifyDummy(password);
      const reason = !row ? 'unknown_user' : row.enabled !== 1 ? 'disabled' : 'no_password';
      return { ok: false, code: 'invalid_credentials', reason, userId: row?.id };
    }
    if (!(await this.hasher.verify(row.password_hash, password))) {
      return { ok: false, code: 'invalid_credentials', reason: 'wrong_password', userId: row.id };
    }
    const identity: Identity = {
      id: row.id,
      username: row.username,
      email: row.email,
      name: row.name,
      givenName: row.given_name ?? null,
      familyName: row.family_name ?? null,
      groups: row.groups,
    };
    const hasher = this.hasher;
    const users = this.users;
    return {
      ok: true,
      identity,
      rehash: hasher.needsRehash(row.password_hash)
        ? async () => users.setPasswordHash(row.id, await hasher.hash(password))
        : undefined,
    };
  }

  async lookup(username: string): Promise<Identity | undefined> {
    const user = await this.users.findByUsername(username);
    return user?.enabled ? toIdentity(user) : undefined;
  }

  async findById(id: string): Promise<Identity | undefined> {
    const user = await this.users.findById(id);
    return user?.enabled ? toIdentity(user) : undefined;
  }
}
