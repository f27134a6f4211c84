import type { Db } from '../store/database.js';
import type { PolicyVersionTable } from '../store/schema.js';

/** One stored version of the sign-in policy. */
export interface PolicyVersion {
  version: number;
  /** the YAML exactly as it was given */
  text: string;
  createdAt: string;
  /** who set it: the actor's name */
  createdBy: string;
  /** what changed against the version before it */
  summary: string;
}

function toVersion(row: PolicyVersionTable): PolicyVersion {
  return {
    version: row.version,
    text: row.text,
    createdAt: row.created_at,
    createdBy: row.created_by,
    summary: row.summary,
  };
}

let writes = 0;

/**
 * Policy versions written by this process. SQLite's data_version moves only for commits of other connections, so a
 * server that stores a version itself (the admin API) must see its own writes some other way.
 */
export function localPolicyWrites(): number {
  return writes;
}

/** The versions of the sign-in policy in the durable store; the newest is the active one. */
export class PolicyStore {
  constructor(private readonly db: Db) {}

  async latest(): Promise<PolicyVersion | undefined> {
    const row = await this.db
      .selectFrom('policy_versions')
      .selectAll()
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && toVersion(row);
  }

  async get(version: number): Promise<PolicyVersion | undefined> {
    const row = await this.db
      .selectFrom('policy_versions')
      .selectAll()
      .where('version', '=', version)
      .executeTakeFirst();
    return row && toVersion(row);
  }

  /** Every version, oldest first, without the text. */
  async list(): Promise<Array<Omit<PolicyVersion, 'text'>>> {
    const rows = await this.db
      .selectFrom('policy_versions')
      .select(['version', 'created_at', 'created_by', 'summary'])
      .orderBy('version')
      .execute();
    return rows.map((r) => ({
      version: r.version,
      createdAt: r.created_at,
      createdBy: r.created_by,
      summary: r.summary,
    }));
  }

  /** Stores the next version. Run it in a write transaction, so two writers cannot take the same number. */
  async add(
    input: { text: string; createdBy: string; summary: string },
    now = new Date(),
  ): Promise<PolicyVersion> {
    const newest = await this.db
      .selectFrom('policy_versions')
      .select((eb) => eb.fn.max('version').as('version'))
      .executeTakeFirst();
    const row: PolicyVersionTable = {
      version: (newest?.version ?? 0) + 1,
      text: input.text,
      created_at: now.toISOString(),
      created_by: input.createdBy,
      summary: input.summary,
    };
    await this.db.insertInto('policy_versions').values(row).execute();
    writes += 1;
    return toVersion(row);
  }
}
