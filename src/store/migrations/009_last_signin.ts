import type { Kysely } from 'kysely';

/**
 * When a user last completed a sign-in (ISO-8601; null when never): for access reviews and dormant accounts
 * (`poort user list --inactive`, `poort user disable-inactive`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('last_signin_at', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('last_signin_at').execute();
}
