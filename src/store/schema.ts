import type { Generated } from 'kysely';

/** Durable tables. Timestamps are ISO-8601 text and booleans 0/1, so SQLite and PostgreSQL read them alike. */
export interface UserTable {
  id: string;
  username: string;
  email: string;
  name: string | null;
  password_hash: string | null;
  enabled: number;
  created_at: string;
  updated_at: string;
}

export interface GroupTable {
  id: string;
  name: string;
  created_at: string;
}

export interface MembershipTable {
  user_id: string;
  group_id: string;
}

export interface ClientTable {
  client_id: string;
  /** oidc-provider client metadata as JSON; the secret in it is encrypted with Poort's secret material */
  metadata: string;
  first_party: number;
  created_at: string;
  updated_at: string;
}

export interface MigrationLockTable {
  id: Generated<number>;
}

export interface Database {
  users: UserTable;
  groups: GroupTable;
  memberships: MembershipTable;
  clients: ClientTable;
}
