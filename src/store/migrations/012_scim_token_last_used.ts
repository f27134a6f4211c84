import type { Kysely } from 'kysely';

/**
 * When a fixed SCIM token was last used (ISO-8601, to the hour; null: never): a token nobody uses any more is a
 * credential to revoke, and an access review asks which.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('scim_tokens').addColumn('last_used_at', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('scim_tokens').dropColumn('last_used_at').execute();
}
