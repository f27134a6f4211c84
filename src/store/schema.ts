/** Durable tables. Timestamps are ISO-8601 text and booleans 0/1, so SQLite and PostgreSQL read them alike. */
export interface UserTable {
  id: string;
  username: string;
  email: string;
  name: string | null;
  given_name: string | null;
  family_name: string | null;
  password_hash: string | null;
  enabled: number;
  created_at: string;
  updated_at: string;
  /** ISO-8601: sign-ins before it no longer count (signed out everywhere); null when never */
  sessions_not_before: string | null;
  /** ISO-8601: the last completed sign-in; null when never */
  last_signin_at: string | null;
  /** where the password is checked: 'local' (password_hash) or 'ldap' */
  directory: string;
  /** the entry's stable id in that directory (entryUUID, objectGUID); null for local users */
  external_id: string | null;
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

export interface AuditEventTable {
  seq: number;
  id: string;
  time: string;
  action: string;
  outcome: string;
  subject_id: string | null;
  subject_name: string | null;
  application: string | null;
  ip: string | null;
  /** the event as canonical JSON (RFC 8785): exactly the text that was hashed */
  event: string;
  prev_hash: string;
  hash: string;
}

export interface AuditCheckpointTable {
  seq: number;
  hash: string;
  time: string;
  kid: string;
  /** compact JWS over {seq, hash, time}, signed with Poort's ES256 key */
  signature: string;
}

export interface AuditCursorTable {
  sink: string;
  seq: number;
  updated_at: string;
}

export interface FactorTable {
  id: string;
  user_id: string;
  kind: string;
  name: string;
  secret: string;
  lookup: string | null;
  state: string;
  created_at: string;
  last_used_at: string | null;
}

export interface RecoveryCodeTable {
  id: string;
  user_id: string;
  hash: string;
  created_at: string;
  used_at: string | null;
}

export interface EnrolmentCodeTable {
  id: string;
  user_id: string;
  hash: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface ScimTokenTable {
  id: string;
  client_id: string;
  /** SHA-256 of the token, hex */
  token_hash: string;
  created_at: string;
  expires_at: string;
  /** ISO-8601, kept to within LAST_USED_PRECISION; null: never used */
  last_used_at: string | null;
}

export interface DeviceTable {
  id: string;
  name: string;
  /** SHA-256 of the client certificate, lower-case hex without colons */
  cert_fingerprint: string;
  owner_id: string | null;
  created_at: string;
}

export interface PolicyVersionTable {
  version: number;
  /** the policy YAML exactly as given */
  text: string;
  created_at: string;
  /** the actor's name */
  created_by: string;
  summary: string;
}

export interface ServiceProviderTable {
  entity_id: string;
  /** the SP's SAML metadata XML as registered */
  metadata: string;
  /** Poort's settings for the SP as JSON */
  settings: string;
  created_at: string;
  updated_at: string;
}

export interface Database {
  users: UserTable;
  groups: GroupTable;
  memberships: MembershipTable;
  clients: ClientTable;
  audit_events: AuditEventTable;
  audit_checkpoints: AuditCheckpointTable;
  audit_cursors: AuditCursorTable;
  factors: FactorTable;
  recovery_codes: RecoveryCodeTable;
  enrolment_codes: EnrolmentCodeTable;
  policy_versions: PolicyVersionTable;
  devices: DeviceTable;
  service_providers: ServiceProviderTable;
  scim_tokens: ScimTokenTable;
}
