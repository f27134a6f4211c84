import { subject, type Change } from '../audit/recorded.js';
import crypto from 'node:crypto';
import type { PasswordHasher } from '../directory/password-hash.js';
import type { Db } from '../store/database.js';

/** How long a helpdesk enrolment code stays valid unless the helpdesk says otherwise. */
export const ENROLMENT_CODE_TTL_SECONDS = 24 * 3600;

/** 20 digits (66 bits): digits are read aloud over the phone without spelling, in any language. */
const DIGITS = 20;
const GROUP_LENGTH = 4;

/** A code as typed, as its 20 digits, or undefined when it cannot be one; spaces and dashes do not matter. */
export function normaliseEnrolmentCode(input: string): string | undefined {
  if (input.length > 64) return undefined;
  const code = input.replace(/[\s-]+/g, '');
  return new RegExp(`^\\d{${DIGITS}}$`).test(code) ? code : undefined;
}

/** `1234-5678-9012-3456-7890`, as read to the user. */
export function formatEnrolmentCode(code: string): string {
  return code.match(new RegExp(`\\d{1,${GROUP_LENGTH}}`, 'g'))!.join('-');
}

/** A new code and its hash, made before any write so that a transaction never waits on argon2. */
export interface PreparedEnrolmentCode {
  /** formatted, to give the user once */
  code: string;
  hash: string;
  /** ISO-8601 */
  expiresAt: string;
}

/**
 * One-time codes from the helpdesk that let a user without a second factor enrol one from anywhere (the enrolment
 * pages redeem them; the caller throttles attempts). Only an argon2id hash is kept. A user has at most one live
 * code: issuing a new one withdraws the earlier ones.
 */
export class EnrolmentCodes {
  constructor(
    private readonly db: Db,
    private readonly hasher: PasswordHasher,
  ) {}

  async prepare(ttlSeconds: number = ENROLMENT_CODE_TTL_SECONDS): Promise<PreparedEnrolmentCode> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0)
      throw new RangeError('the lifetime must be positive');
    let code = '';
    for (let i = 0; i < DIGITS; i++) code += String(crypto.randomInt(10));
    return {
      code: formatEnrolmentCode(code),
      hash: await this.hasher.hash(code),
      expiresAt: new Date(Date.now() + ttlSeconds * 1000).toISOString(),
    };
  }

  /**
   * Stores a prepared code in place of the user's earlier ones; returns how many live codes it withdrew. Runs on the
   * connection it was made with: inside the caller's transaction, when there is one.
   */
  async store(userId: string, prepared: PreparedEnrolmentCode): Promise<{ withdrawn: number }> {
    const now = new Date().toISOString();
    const live = await this.db
      .selectFrom('enrolment_codes')
      .select('id')
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .execute();
    await this.db.deleteFrom('enrolment_codes').where('user_id', '=', userId).execute();
    await this.db
      .insertInto('enrolment_codes')
      .values({
        id: crypto.randomUUID(),
        user_id: userId,
        hash: prepared.hash,
        created_at: now,
        expires_at: prepared.expiresAt,
        used_at: null,
      })
      .execute();
    return { withdrawn: live.length };
  }

  /** Issues a code for a user, valid for `ttlSeconds`; the code is returned once and never stored in clear. */
  async issue(
    userId: string,
    ttlSeconds: number = ENROLMENT_CODE_TTL_SECONDS,
  ): Promise<{ code: string; expiresAt: string }> {
    const prepared = await this.prepare(ttlSeconds);
    await this.db
      .transaction()
      .execute((trx) => new EnrolmentCodes(trx, this.hasher).store(userId, prepared));
    return { code: prepared.code, expiresAt: prepared.expiresAt };
  }

  /**
   * True exactly once for a live code of this user; false for a wrong, expired or used code. Always one argon2
   * verification, so the time taken does not tell whether the user has a code. Marking it used is one conditional
   * update: two requests racing with the same code cannot both succeed.
   */
  async redeem(userId: string, input: string): Promise<boolean> {
    const code = normaliseEnrolmentCode(input);
    const now = new Date().toISOString();
    const row = await this.db
      .selectFrom('enrolment_codes')
      .select(['id', 'hash'])
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    if (!code || !row) {
      await this.hasher.verifyDummy(code ?? 'not-an-enrolment-code');
      return false;
    }
    if (!(await this.hasher.verify(row.hash, code))) return false;
    const result = await this.db
      .updateTable('enrolment_codes')
      .set({ used_at: new Date().toISOString() })
      .where('id', '=', row.id)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}

/**
 * Stores a prepared code for a user in `db` (the transaction of its audit event) and says what to record: the
 * expiry and how many earlier codes it withdrew, never the code.
 */
export async function storeEnrolmentCode(
  db: Db,
  hasher: PasswordHasher,
  user: { id: string; username: string },
  prepared: PreparedEnrolmentCode,
  ttlSeconds: number,
): Promise<{ result: { withdrawn: number }; changes: Change[] }> {
  const result = await new EnrolmentCodes(db, hasher).store(user.id, prepared);
  return {
    result,
    changes: [
      {
        action: 'mfa.enrolment_code.issued',
        subject: subject(user),
        details: { expires_at: prepared.expiresAt, ttl_seconds: ttlSeconds, withdrawn: result.withdrawn },
      },
    ],
  };
}
