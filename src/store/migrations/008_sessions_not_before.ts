import type { Kysely } from 'kysely';

/**
 * When a user was last signed out everywhere (a password reset, `poort user sign-out`): sessions and tokens from
 * sign-ins before it no longer count. ISO-8601, like every time in the durable store; null when never.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('sessions_not_before', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('sessions_not_before').execute();
}
