import crypto from 'node:crypto';
import type { Db } from '../store/database.js';

/** What a fixed SCIM token starts with: told apart from an access token at a glance, and by secret scanners. */
export const SCIM_TOKEN_PREFIX = 'poort_scim_';

/** The longest a fixed token may live: a connector's token is rotated at least this often. */
export const MAX_SCIM_TOKEN_SECONDS = 3 * 365 * 86400;

/** How exactly the last use of a token is kept: one write an hour per token, not one per request. */
export const LAST_USED_PRECISION_SECONDS = 3600;

export interface ScimTokenRecord {
  id: string;
  clientId: string;
  /** ISO-8601 */
  createdAt: string;
  expiresAt: string;
  /** ISO-8601, to within an hour; null: never used */
  lastUsedAt: string | null;
}

const COLUMNS = ['id', 'client_id', 'created_at', 'expires_at', 'last_used_at'] as const;

/** SHA-256, hex: a token is 256 random bits, so a fast hash keeps it as safe as a slow one would. */
function hashOf(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

function toRecord(row: {
  id: string;
  client_id: string;
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
}): ScimTokenRecord {
  return {
    id: row.id,
    clientId: row.client_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at ?? null,
  };
}

/**
 * Fixed bearer tokens for SCIM connectors that cannot fetch an access token (client credentials) themselves: each
 * belongs to a client that `scim.clients` names and acts as it. The token is shown once; only its hash is kept.
 * `poort client remove` removes the client's tokens too.
 */
export class ScimTokens {
  constructor(private readonly db: Db) {}

  /** Makes a token for `clientId`; runs on the connection it was made with (the caller's transaction). */
  async add(clientId: string, lifetimeSeconds: number): Promise<{ token: string; record: ScimTokenRecord }> {
    if (
      !Number.isInteger(lifetimeSeconds) ||
      lifetimeSeconds <= 0 ||
      lifetimeSeconds > MAX_SCIM_TOKEN_SECONDS
    )
      throw new RangeError('the lifetime must be positive and at most three years');
    const token = `${SCIM_TOKEN_PREFIX}${crypto.randomBytes(32).toString('base64url')}`;
    const now = Date.now();
    const row = {
      id: crypto.randomBytes(6).toString('hex'),
      client_id: clientId,
      token_hash: hashOf(token),
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + lifetimeSeconds * 1000).toISOString(),
      last_used_at: null,
    };
    await this.db.insertInto('scim_tokens').values(row).execute();
    return { token, record: toRecord(row) };
  }

  /** The live token `token` is, or undefined (unknown, expired, revoked, or not of this form at all). */
  async find(token: string): Promise<ScimTokenRecord | undefined> {
    if (!token.startsWith(SCIM_TOKEN_PREFIX) || token.length > 200) return undefined;
    const row = await this.db
      .selectFrom('scim_tokens')
      .select(COLUMNS)
      .where('token_hash', '=', hashOf(token))
      .where('expires_at', '>', new Date().toISOString())
      .executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  /**
   * Notes that `record` was just used, where the last use kept is older than LAST_USED_PRECISION_SECONDS (or none):
   * at most one write an hour per token, and the condition keeps several nodes from writing it each.
   */
  async used(record: ScimTokenRecord, at = new Date()): Promise<void> {
    const stale = new Date(at.getTime() - LAST_USED_PRECISION_SECONDS * 1000).toISOString();
    if (record.lastUsedAt !== null && record.lastUsedAt > stale) return;
    await this.db
      .updateTable('scim_tokens')
      .set({ last_used_at: at.toISOString() })
      .where('id', '=', record.id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', stale)]))
      .execute();
  }

  /** Every token, expired ones too, oldest first. */
  async list(): Promise<ScimTokenRecord[]> {
    const rows = await this.db
      .selectFrom('scim_tokens')
      .select(COLUMNS)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toRecord);
  }

  /** Removes every token of a client; returns how many. */
  async removeAllOf(clientId: string): Promise<number> {
    const result = await this.db
      .deleteFrom('scim_tokens')
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Removes a token; returns it, or undefined when there was none with that id. */
  async revoke(id: string): Promise<ScimTokenRecord | undefined> {
    const row = await this.db
      .deleteFrom('scim_tokens')
      .where('id', '=', id)
      .returning(COLUMNS)
      .executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }
}
