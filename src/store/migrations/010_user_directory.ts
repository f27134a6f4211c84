import type { Kysely } from 'kysely';

/**
 * Where a user's password is checked: `local` (the argon2id hash in this row) or `ldap` (a bind to the LDAP / Active
 * Directory server; the row is a copy of the entry, refreshed at each sign-in and sync, that holds what Poort adds:
 * second factors, sessions, the last sign-in). `external_id` is the entry's stable id there (entryUUID, objectGUID),
 * so that a renamed entry keeps its row, and with it its `sub` and its factors.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('directory', 'text', (c) => c.notNull().defaultTo('local'))
    .execute();
  await db.schema.alterTable('users').addColumn('external_id', 'text').execute();
  await db.schema
    .createIndex('users_directory_external_id')
    .on('users')
    .columns(['directory', 'external_id'])
    .unique()
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('users_directory_external_id').execute();
  await db.schema.alterTable('users').dropColumn('external_id').execute();
  await db.schema.alterTable('users').dropColumn('directory').execute();
}
