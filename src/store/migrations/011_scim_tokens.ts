import type { Kysely } from 'kysely';

/**
 * Long-lived bearer tokens for SCIM connectors that take a fixed token (Entra ID's "Secret Token", Okta's HTTP header
 * authentication), each of a client that `scim.clients` names. Only the SHA-256 of a token is kept: a token is 256
 * random bits, shown once.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('scim_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // no foreign key: a client declared in the configuration is not in the clients table. `poort client remove`
    // removes the client's tokens in the same transaction.
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('scim_tokens').execute();
}
