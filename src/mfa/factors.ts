import crypto from 'node:crypto';
import { open, seal } from '../keys/secret-box.js';
import type { Db } from '../store/database.js';
import type { FactorTable } from '../store/schema.js';
import type { FactorKind, FactorRecord } from './factor.js';
import { isUniqueViolation } from '../store/unique.js';

export class FactorError extends Error {
  override readonly name = 'FactorError';
  constructor(
    readonly code: 'not_found' | 'exists' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

function toRecord(row: FactorTable): FactorRecord {
  return {
    id: row.id,
    userId: row.user_id,
    kind: row.kind as FactorKind,
    name: row.name,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}

/** A factor with what only its own kind's code may read. */
export interface FactorWithSecret<S = unknown, T = Record<string, unknown>> {
  record: FactorRecord;
  secret: S;
  state: T;
  /** the state text as stored, for compare-and-set updates */
  stateText: string;
}

/**
 * Enrolled second factors. The secret part of each (a TOTP seed, a WebAuthn public key with its credential, an
 * e-mail address or phone number) is sealed with Poort's secret material and bound to the factor's id.
 */
export class FactorRepository {
  constructor(
    private readonly db: Db,
    private readonly encryptionKey: Buffer,
  ) {}

  async add(input: {
    userId: string;
    kind: FactorKind;
    name: string;
    secret: unknown;
    lookup?: string;
    state?: Record<string, unknown>;
  }): Promise<FactorRecord> {
    const name = input.name.trim().slice(0, 64) || input.kind;
    const id = crypto.randomUUID();
    const row: FactorTable = {
      id,
      user_id: input.userId,
      kind: input.kind,
      name,
      secret: seal(this.encryptionKey, JSON.stringify(input.secret), `factor:${id}`),
      lookup: input.lookup ?? null,
      state: JSON.stringify(input.state ?? {}),
      created_at: new Date().toISOString(),
      last_used_at: null,
    };
    try {
      await this.db.insertInto('factors').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new FactorError('exists', 'this authenticator is already registered');
      throw err;
    }
    return toRecord(row);
  }

  async list(userId: string): Promise<FactorRecord[]> {
    const rows = await this.db
      .selectFrom('factors')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .execute();
    return rows.map(toRecord);
  }

  async get(id: string): Promise<FactorRecord | undefined> {
    const row = await this.db.selectFrom('factors').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  async withSecret<S, T extends Record<string, unknown> = Record<string, unknown>>(
    id: string,
  ): Promise<FactorWithSecret<S, T> | undefined> {
    const row = await this.db.selectFrom('factors').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    return this.open<S, T>(row);
  }

  async findByLookup<S, T extends Record<string, unknown> = Record<string, unknown>>(
    kind: FactorKind,
    lookup: string,
  ): Promise<FactorWithSecret<S, T> | undefined> {
    const row = await this.db
      .selectFrom('factors')
      .selectAll()
      .where('kind', '=', kind)
      .where('lookup', '=', lookup)
      .executeTakeFirst();
    return row ? this.open<S, T>(row) : undefined;
  }

  private open<S, T>(row: FactorTable): FactorWithSecret<S, T> {
    return {
      record: toRecord(row),
      secret: JSON.parse(open(this.encryptionKey, row.secret, `factor:${row.id}`)) as S,
      state: JSON.parse(row.state) as T,
      stateText: row.state,
    };
  }

  /**
   * Records a use: the new state replaces the old one only if nobody changed it meanwhile, so two requests with the
   * same one-time value cannot both succeed. Returns false when the state had moved on.
   */
  async recordUse(id: string, previousStateText: string, state: Record<string, unknown>): Promise<boolean> {
    const result = await this.db
      .updateTable('factors')
      .set({ state: JSON.stringify(state), last_used_at: new Date().toISOString() })
      .where('id', '=', id)
      .where('state', '=', previousStateText)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async rename(id: string, userId: string, name: string): Promise<void> {
    const result = await this.db
      .updateTable('factors')
      .set({ name: name.trim().slice(0, 64) })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new FactorError('not_found', `no factor ${id}`);
  }

  async remove(id: string, userId: string): Promise<FactorRecord> {
    const record = await this.get(id);
    if (!record || record.userId !== userId) throw new FactorError('not_found', `no factor ${id}`);
    await this.db.deleteFrom('factors').where('id', '=', id).execute();
    return record;
  }

  async removeAll(userId: string): Promise<FactorRecord[]> {
    const records = await this.list(userId);
    await this.db.deleteFrom('factors').where('user_id', '=', userId).execute();
    return records;
  }
}
