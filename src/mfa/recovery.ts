import crypto from 'node:crypto';
import type { PasswordHasher } from '../directory/password-hash.js';
import type { Db } from '../store/database.js';
import type { Strength } from './strength.js';

/** How many codes a user holds after (re)generating them. */
export const RECOVERY_CODE_COUNT = 10;

/** What the sign-in pages post as `factor` to use a recovery code instead of one of the user's factors. */
export const RECOVERY_FACTOR_ID = 'recovery';

/**
 * A recovery code stands in for a TOTP code: it satisfies `any` and `totp`, never `phishing_resistant` (it can be
 * typed into a phishing page like any other code). RFC 8176 has no value of its own for it; it is a one-time code.
 */
export const RECOVERY_CODE_STRENGTH: Strength = 'totp';
export const RECOVERY_CODE_AMR: readonly string[] = ['otp'];

/** Crockford's base32 in lower case: no i, l, o or u, so no character reads as another. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const GROUP_LENGTH = 5;
const GROUPS = 3;
const CODE_LENGTH = GROUP_LENGTH * GROUPS;

/**
 * A code as typed, in canonical form (15 characters, no dashes), or undefined when it cannot be one. Case, spaces and
 * dashes do not matter, and the letters people confuse with digits are read as those digits.
 */
export function normaliseRecoveryCode(input: string): string | undefined {
  if (input.length > 64) return undefined;
  const code = input
    .toLowerCase()
    .replace(/[\s-]+/g, '')
    .replace(/o/g, '0')
    .replace(/[il]/g, '1');
  if (code.length !== CODE_LENGTH || [...code].some((c) => !ALPHABET.includes(c))) return undefined;
  return code;
}

/** `xxxxx-xxxxx-xxxxx`, as shown to the user. */
export function formatRecoveryCode(code: string): string {
  const groups: string[] = [];
  for (let i = 0; i < code.length; i += GROUP_LENGTH) groups.push(code.slice(i, i + GROUP_LENGTH));
  return groups.join('-');
}

function randomCode(): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) code += ALPHABET[crypto.randomInt(ALPHABET.length)];
  return code;
}

/**
 * The row id: the user and the code's first group. The first group is the code's public handle, so checking a code
 * costs exactly one argon2 verification however many codes the user holds; the other two groups (50 bits) are the
 * secret, and the whole code (75 bits) is what is hashed.
 */
function rowId(userId: string, code: string): string {
  return `${userId}:${code.slice(0, GROUP_LENGTH)}`;
}

/** New codes and their hashes, made before any write so that a transaction never waits on argon2. */
export interface PreparedRecoveryCodes {
  /** formatted, to show the user once */
  codes: string[];
  rows: Array<{ prefix: string; hash: string }>;
}

export type RecoveryCodeUse =
  { ok: true; remaining: number } | { ok: false; reason: 'invalid_code' | 'replayed' };

/**
 * Single-use recovery codes: the way back in when the phone or security key is lost. Only argon2id hashes are kept;
 * the codes are shown once, when they are made, and making new ones replaces every earlier one.
 */
export class RecoveryCodes {
  constructor(
    private readonly db: Db,
    private readonly hasher: PasswordHasher,
  ) {}

  async prepare(): Promise<PreparedRecoveryCodes> {
    const codes = new Map<string, string>();
    while (codes.size < RECOVERY_CODE_COUNT) {
      const code = randomCode();
      // Two codes of one user must not share the public first group.
      codes.set(code.slice(0, GROUP_LENGTH), code);
    }
    const rows = await Promise.all(
      [...codes].map(async ([prefix, code]) => ({ prefix, hash: await this.hasher.hash(code) })),
    );
    return { codes: [...codes.values()].map(formatRecoveryCode), rows };
  }

  /**
   * Stores prepared codes in place of every earlier code of the user; returns how many unused codes were replaced.
   * Runs on the connection it was made with: inside the caller's transaction, when there is one.
   */
  async replace(userId: string, prepared: PreparedRecoveryCodes): Promise<{ replaced: number }> {
    const replaced = await this.remaining(userId);
    await this.db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
    const now = new Date().toISOString();
    await this.db
      .insertInto('recovery_codes')
      .values(
        prepared.rows.map((row) => ({
          id: rowId(userId, row.prefix),
          user_id: userId,
          hash: row.hash,
          created_at: now,
          used_at: null,
        })),
      )
      .execute();
    return { replaced };
  }

  /** Makes new codes for a user, replacing the old ones, and returns them (formatted) to be shown once. */
  async generate(userId: string): Promise<string[]> {
    const prepared = await this.prepare();
    await this.db
      .transaction()
      .execute((trx) => new RecoveryCodes(trx, this.hasher).replace(userId, prepared));
    return prepared.codes;
  }

  /** How many unused codes a user has. */
  async remaining(userId: string): Promise<number> {
    const row = await this.db
      .selectFrom('recovery_codes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Removes every code of a user; returns how many were still unused. */
  async removeAll(userId: string): Promise<number> {
    const unused = await this.remaining(userId);
    await this.db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
    return unused;
  }

  /**
   * Uses a code: true once per code. One argon2 verification for every attempt, also for a code with an unknown
   * first group or in the wrong shape, so the time taken tells nothing. Marking it used is one conditional update:
   * two requests racing with the same code cannot both succeed.
   */
  async use(userId: string, input: string): Promise<RecoveryCodeUse> {
    const code = normaliseRecoveryCode(input);
    const row = code
      ? await this.db
          .selectFrom('recovery_codes')
          .select(['id', 'hash', 'used_at'])
          .where('id', '=', rowId(userId, code))
          .where('user_id', '=', userId)
          .executeTakeFirst()
      : undefined;
    if (!code || !row) {
      await this.hasher.verifyDummy(code ?? 'not-a-recovery-code');
      return { ok: false, reason: 'invalid_code' };
    }
    if (!(await this.hasher.verify(row.hash, code))) return { ok: false, reason: 'invalid_code' };
    if (row.used_at !== null) return { ok: false, reason: 'replayed' };
    const result = await this.db
      .updateTable('recovery_codes')
      .set({ used_at: new Date().toISOString() })
      .where('id', '=', row.id)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return { ok: false, reason: 'replayed' };
    return { ok: true, remaining: await this.remaining(userId) };
  }
}
