import crypto from 'node:crypto';
import type { KeyValueStore } from '../store/kv.js';
import type { PasswordHasher } from '../directory/password-hash.js';

/** How long a reset link works unless the helpdesk says otherwise (passwords.reset.link_lifetime). */
export const RESET_LINK_LIFETIME_SECONDS = 24 * 3600;

/** Where a link's page is, on the issuer. */
export function resetLinkPath(token: string): string {
  return `/account/password/reset/${token}`;
}

/** A link's token: `<id>.<secret>`, 16 and 32 random bytes in base64url. */
const TOKEN = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/** The id half of a well-formed token (not secret: it names the link, for CSRF binding and correlation). */
export function resetLinkId(token: string): string | undefined {
  return TOKEN.exec(token)?.[1];
}

/** Who asked for a link: the helpdesk (`poort user reset-password`) or the user (self-service, "forgot password"). */
/** Who asked for a link: the helpdesk, the person on the sign-in page, or provisioning for a new account (SCIM). */
export type ResetOrigin = 'helpdesk' | 'self' | 'welcome';

interface StoredReset {
  userId: string;
  /** absent in links made before self-service existed: those came from the helpdesk */
  origin?: ResetOrigin;
  /** argon2id of the secret half of the token */
  hash: string;
  /** ISO-8601 */
  expiresAt: string;
}

export interface IssuedReset {
  /** goes into the link, once; never stored in clear */
  token: string;
  /** ISO-8601 */
  expiresAt: string;
  /** whether an earlier live link of this user was withdrawn */
  withdrew: boolean;
}

/**
 * Password reset links the helpdesk sends (`poort user reset-password`), or people send themselves from the sign-in
 * page ("Forgot your password?", when passwords.reset.self_service is on). Ephemeral state on the key-value store:
 * the link's id names the record, which holds the user and an argon2id hash of the link's secret, and expires
 * with the link. A user has at most one live link: a new one withdraws the earlier. A link works once.
 *
 * An unknown id is refused without a hash verification: ids are 128 random bits that no one can guess, and
 * answering them at once keeps the page from being a way to burn the server's CPU.
 */
export class PasswordResets {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly hasher: PasswordHasher,
  ) {}

  private linkKey(id: string): string {
    return `password-reset:link:${id}`;
  }

  private userKey(userId: string): string {
    return `password-reset:user:${userId}`;
  }

  async issue(
    userId: string,
    lifetimeSeconds: number = RESET_LINK_LIFETIME_SECONDS,
    origin: ResetOrigin = 'helpdesk',
  ): Promise<IssuedReset> {
    if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds <= 0)
      throw new RangeError('the lifetime must be a positive number of seconds');
    const id = crypto.randomBytes(16).toString('base64url');
    const secret = crypto.randomBytes(32).toString('base64url');
    const stored: StoredReset = {
      userId,
      origin,
      hash: await this.hasher.hash(secret),
      expiresAt: new Date(Date.now() + lifetimeSeconds * 1000).toISOString(),
    };
    const earlier = await this.kv.get<string>(this.userKey(userId));
    const withdrew = earlier !== undefined && (await this.kv.get(this.linkKey(earlier))) !== undefined;
    if (earlier) await this.kv.delete(this.linkKey(earlier));
    await this.kv.batch([
      { op: 'set', key: this.linkKey(id), value: stored, ttlSeconds: lifetimeSeconds },
      { op: 'set', key: this.userKey(userId), value: id, ttlSeconds: lifetimeSeconds },
    ]);
    return { token: `${id}.${secret}`, expiresAt: stored.expiresAt, withdrew };
  }

  /** Withdraws a link that could not be delivered. */
  async withdraw(token: string): Promise<void> {
    const id = resetLinkId(token);
    if (id) await this.kv.delete(this.linkKey(id));
  }

  /** Withdraws the live link of a user, if any (the user was removed). */
  async withdrawFor(userId: string): Promise<void> {
    const id = await this.kv.get<string>(this.userKey(userId));
    if (id) await this.kv.delete(this.linkKey(id));
    await this.kv.delete(this.userKey(userId));
  }

  /** The user a live link is for; undefined for a malformed, unknown, expired, used or withdrawn link. */
  async check(token: string): Promise<{ userId: string; origin: ResetOrigin } | undefined> {
    const parsed = TOKEN.exec(token);
    if (!parsed) return undefined;
    const stored = await this.kv.get<StoredReset>(this.linkKey(parsed[1]!));
    if (!stored || Date.parse(stored.expiresAt) <= Date.now()) return undefined;
    return (await this.hasher.verify(stored.hash, parsed[2]!))
      ? { userId: stored.userId, origin: stored.origin ?? 'helpdesk' }
      : undefined;
  }

  /**
   * Uses up a link that check() accepted for `userId`: true exactly once, also when two requests race with it.
   * The caller checks the link first (the argon2 verification stays outside the store's atomic step).
   */
  async consume(token: string, userId: string): Promise<boolean> {
    const parsed = TOKEN.exec(token);
    if (!parsed) return false;
    const used = await this.kv.update<StoredReset, boolean>(this.linkKey(parsed[1]!), (current) =>
      current && current.userId === userId
        ? { value: undefined, result: true }
        : { value: current, result: false },
    );
    if (used) {
      const id = parsed[1]!;
      await this.kv.update<string, void>(this.userKey(userId), (current) => ({
        value: current === id ? undefined : current,
        result: undefined,
      }));
    }
    return used;
  }
}
