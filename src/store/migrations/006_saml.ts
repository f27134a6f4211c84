import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('service_providers')
    .addColumn('entity_id', 'text', (c) => c.primaryKey())
    // the SP's SAML metadata exactly as registered: endpoints and certificates are read from it
    .addColumn('metadata', 'text', (c) => c.notNull())
    // Poort's settings for this SP (name, NameID format, attributes, signing, encryption) as JSON
    .addColumn('settings', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  // What SAML attributes (givenName, sn) and OIDC claims need; a display name is never split to guess them.
  await db.schema.alterTable('users').addColumn('given_name', 'text').execute();
  await db.schema.alterTable('users').addColumn('family_name', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('family_name').execute();
  await db.schema.alterTable('users').dropColumn('given_name').execute();
  await db.schema.dropTable('service_providers').execute();
}
