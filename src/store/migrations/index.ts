import type { Migration, MigrationProvider } from 'kysely';
import * as initial from './001_initial.js';
import * as audit from './002_audit.js';
import * as mfa from './003_mfa.js';
import * as policies from './004_policies.js';
import * as devices from './005_devices.js';
import * as saml from './006_saml.js';
import * as auditAppend from './007_audit_append.js';
import * as sessionsNotBefore from './008_sessions_not_before.js';
import * as lastSignIn from './009_last_signin.js';
import * as userDirectory from './010_user_directory.js';
import * as scimTokens from './011_scim_tokens.js';
import * as scimTokenLastUsed from './012_scim_token_last_used.js';

/** Versioned migrations, applied in name order; never edit one that has shipped, add the next. */
export const migrations: Record<string, Migration> = {
  '001_initial': initial,
  '002_audit': audit,
  '003_mfa': mfa,
  '004_policies': policies,
  '005_devices': devices,
  '006_saml': saml,
  '007_audit_append': auditAppend,
  '008_sessions_not_before': sessionsNotBefore,
  '009_last_signin': lastSignIn,
  '010_user_directory': userDirectory,
  '011_scim_tokens': scimTokens,
  '012_scim_token_last_used': scimTokenLastUsed,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
