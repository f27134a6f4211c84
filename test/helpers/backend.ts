import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { parseDocument } from 'yaml';
import type { Db } from '../../src/store/database.js';
import { openDurableSqlite } from '../../src/store/database.js';
import type { KeyValueStore } from '../../src/store/kv.js';
import { SqliteKeyValueStore } from '../../src/store/kv-sqlite.js';
import { RedisKeyValueStore } from '../../src/store/kv-redis.js';
import { openDurablePostgres } from '../../src/store/postgres.js';
import { createTestDatabase } from './postgres.js';
import { deleteKeysUnder, redisUrl, requireRedis, testPrefix } from './redis.js';

/**
 * Which stores a test run uses: `embedded` (SQLite for everything, the default) or `scaled` (PostgreSQL for durable
 * data, Redis for ephemeral state). Chosen by POORT_TEST_BACKEND; `npm test` runs the suite once with each.
 */
export type TestBackend = 'embedded' | 'scaled';

export const BACKENDS: readonly TestBackend[] = ['embedded', 'scaled'];

function backendFromEnv(value: string | undefined): TestBackend {
  if (value === undefined || value === '' || value === 'embedded') return 'embedded';
  if (value === 'scaled') return 'scaled';
  throw new Error(`POORT_TEST_BACKEND must be "embedded" or "scaled", not ${JSON.stringify(value)}`);
}

export const testBackend: TestBackend = backendFromEnv(process.env.POORT_TEST_BACKEND);

/** The `storage` settings of a configuration, as they go into poort.yaml. */
export interface StorageSettings {
  durable: 'sqlite' | 'postgres';
  database_url?: string;
  ephemeral: 'sqlite' | 'redis';
  redis_url?: string;
  redis_prefix?: string;
}

/** The stores of one server (or one CLI sandbox): a database and key prefix of its own on `scaled`. */
export interface ProvisionedBackend {
  backend: TestBackend;
  storage: StorageSettings;
  /** the test database's name (scaled only) */
  databaseName?: string;
  /** drops the database and deletes every key under the prefix; the embedded stores go with the data folder */
  drop(): Promise<void>;
}

/** Creates the stores a server or CLI uses on `backend`: nothing to create for embedded. */
export async function provisionBackend(backend: TestBackend = testBackend): Promise<ProvisionedBackend> {
  if (backend === 'embedded') {
    return { backend, storage: { durable: 'sqlite', ephemeral: 'sqlite' }, drop: async () => {} };
  }
  await requireRedis();
  const database = await createTestDatabase();
  const prefix = testPrefix();
  return {
    backend,
    storage: {
      durable: 'postgres',
      database_url: database.url,
      ephemeral: 'redis',
      redis_url: redisUrl,
      redis_prefix: prefix,
    },
    databaseName: database.name,
    async drop() {
      await Promise.all([database.drop(), deleteKeysUnder(prefix)]);
    },
  };
}

/**
 * A copy of `original`'s stores, as copying the data folder copies the embedded ones: on scaled a copy of its
 * database (nobody may be connected to it) and an empty Redis prefix of its own.
 */
export async function copyBackend(original: ProvisionedBackend): Promise<ProvisionedBackend> {
  if (original.backend === 'embedded') return provisionBackend('embedded');
  const database = await createTestDatabase(original.databaseName);
  const prefix = testPrefix();
  return {
    backend: original.backend,
    storage: { ...original.storage, database_url: database.url, redis_prefix: prefix },
    databaseName: database.name,
    async drop() {
      await Promise.all([database.drop(), deleteKeysUnder(prefix)]);
    },
  };
}

/**
 * `yaml` with the backend's storage settings added: a `storage.durable` or `storage.ephemeral` the text sets itself
 * wins (the test is about that store). Text that does not parse as a mapping is returned as it is, for the tests
 * of bad configuration.
 */
export function withStorage(yaml: string, storage: StorageSettings): string {
  const doc = parseDocument(yaml);
  if (doc.errors.length > 0) return yaml;
  const contents = doc.toJS() as unknown;
  if (
    contents !== null &&
    contents !== undefined &&
    (typeof contents !== 'object' || Array.isArray(contents))
  ) {
    return yaml;
  }
  const current = ((contents as Record<string, unknown> | null)?.storage ?? {}) as Record<string, unknown>;
  if (typeof current !== 'object' || current === null || Array.isArray(current)) return yaml;
  const set = (key: string, value: unknown) => {
    if (value !== undefined && !(key in current)) doc.setIn(['storage', key], value);
  };
  if (!('durable' in current)) {
    set('durable', storage.durable);
    set('database_url', storage.database_url);
  }
  if (!('ephemeral' in current)) {
    set('ephemeral', storage.ephemeral);
    set('redis_url', storage.redis_url);
    set('redis_prefix', storage.redis_prefix);
  }
  return doc.toString();
}

/** Adds the backend's storage settings to the configuration file at `file` (creating it when missing). */
export function addStorageToFile(file: string, storage: StorageSettings): void {
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const next = withStorage(text, storage);
  if (next === text) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // a CLI started meanwhile reads the old file or the new one, never half of one
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, next);
  fs.renameSync(temporary, file);
}

/** Opens the durable store of `storage` (migrated), runs `fn` and closes it again. */
export async function withDurable<T>(
  storage: StorageSettings,
  dataDir: string,
  fn: (db: Db) => Promise<T>,
): Promise<T> {
  const db =
    storage.durable === 'postgres'
      ? await openDurablePostgres(storage.database_url!)
      : (await openDurableSqlite(dataDir)).db;
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

/**
 * Makes every insert into `table` fail with `message`, on either dialect: a stand-in for a full disk or a broken
 * database. Returns the repair.
 */
export async function refuseInserts(
  db: Db,
  dialect: StorageSettings['durable'],
  table: string,
  message = 'refused',
): Promise<() => Promise<void>> {
  const name = `refuse_${table}`;
  if (dialect === 'sqlite') {
    await sql
      .raw(`CREATE TRIGGER ${name} BEFORE INSERT ON ${table} BEGIN SELECT RAISE(FAIL, '${message}'); END`)
      .execute(db);
    return async () => {
      await sql.raw(`DROP TRIGGER ${name}`).execute(db);
    };
  }
  await sql
    .raw(
      `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${message}'; END $$`,
    )
    .execute(db);
  await sql
    .raw(`CREATE TRIGGER ${name} BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}()`)
    .execute(db);
  return async () => {
    await sql.raw(`DROP TRIGGER ${name} ON ${table}`).execute(db);
    await sql.raw(`DROP FUNCTION ${name}()`).execute(db);
  };
}

/**
 * A durable store of its own on `backend` for a test that builds components directly: SQLite in `dataDir`, or a
 * PostgreSQL database of its own (which destroy() drops).
 */
export async function openTestDurableStore(dataDir: string, backend: TestBackend = testBackend): Promise<Db> {
  if (backend === 'embedded') return (await openDurableSqlite(dataDir)).db;
  const database = await createTestDatabase();
  const db = await openDurablePostgres(database.url);
  const destroy = db.destroy.bind(db);
  db.destroy = async () => {
    await destroy();
    await database.drop();
  };
  return db;
}

/**
 * A key-value store of its own on `backend` for a test that builds components directly: a SQLite file in `dataDir`,
 * or Redis under a fresh prefix (whose keys close() deletes).
 */
export async function openTestKeyValueStore(
  dataDir: string,
  backend: TestBackend = testBackend,
): Promise<KeyValueStore> {
  if (backend === 'embedded') return SqliteKeyValueStore.inDataDir(dataDir);
  await requireRedis();
  const prefix = testPrefix();
  const store = await RedisKeyValueStore.connect(redisUrl, { prefix });
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    await deleteKeysUnder(prefix);
  };
  return store;
}

/** Runs `fn` while the audit trail refuses every event (a full disk), then lets it store them again. */
export async function whileAuditRefused<T>(
  poort: { services: { db: Db; config: { storage: Pick<StorageSettings, 'durable'> } } },
  fn: () => Promise<T>,
): Promise<T> {
  const allow = await refuseInserts(
    poort.services.db,
    poort.services.config.storage.durable,
    'audit_events',
    'disk full',
  );
  try {
    return await fn();
  } finally {
    await allow();
  }
}
