import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import type { Db } from './database.js';

/** Kysely's migrator bookkeeping: each store keeps its own, written by running the migrations there. */
const BOOKKEEPING = new Set(['kysely_migration', 'kysely_migration_lock']);

/** Whether a table holds Poort's durable data (not SQLite's internals, not the migrator's bookkeeping). */
export function isDurableTable(name: string): boolean {
  return !BOOKKEEPING.has(name) && !name.startsWith('sqlite_');
}

/** A table as the copy needs it: its columns, and the tables its foreign keys point at. */
export interface TableShape {
  name: string;
  columns: string[];
  references: string[];
}

/** Refusals and failures of the copy, with a message for the operator. */
export class CopyError extends Error {
  override readonly name = 'CopyError';
}

/**
 * The tables in an order that inserts every referenced row before the rows that refer to it; ties stay in name
 * order, so the order is stable. A table that refers to itself is no obstacle; a cycle between tables is.
 */
export function copyOrder(tables: readonly TableShape[]): TableShape[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const placed = new Set<string>();
  const ordered: TableShape[] = [];
  const pending = [...tables].sort((a, b) => a.name.localeCompare(b.name));
  while (pending.length > 0) {
    const ready = pending.findIndex((t) =>
      t.references.every((r) => r === t.name || placed.has(r) || !byName.has(r)),
    );
    if (ready < 0)
      throw new CopyError(
        `the foreign keys of ${pending.map((t) => t.name).join(', ')} form a cycle: no order to copy them in`,
      );
    const [table] = pending.splice(ready, 1);
    placed.add(table!.name);
    ordered.push(table!);
  }
  return ordered;
}

/** Rows per INSERT: PostgreSQL takes at most 65535 parameters in one statement. */
export function batchRows(columns: number, most = 1000): number {
  return Math.max(1, Math.min(most, Math.floor(60_000 / Math.max(1, columns))));
}

type SqliteValue = string | number | bigint | Buffer | null;

/** A value as PostgreSQL receives it unchanged: integers beyond 2^53 as exact decimal text, not a rounded number. */
function toParameter(value: SqliteValue): string | number | Buffer | null {
  return typeof value === 'bigint' ? value.toString() : value;
}

/**
 * The embedded store opened read-only inside one read transaction: everything read from it is one consistent
 * snapshot, whatever a server running on the same file commits meanwhile (WAL readers never block its writers).
 */
export class SqliteSnapshot {
  readonly #sqlite: SQLite.Database;

  private constructor(sqlite: SQLite.Database) {
    this.#sqlite = sqlite;
  }

  static open(file: string): SqliteSnapshot {
    let sqlite: SQLite.Database;
    try {
      sqlite = new SQLite(file, { readonly: true, fileMustExist: true });
      sqlite.pragma('busy_timeout = 5000');
      sqlite.exec('BEGIN');
      // A deferred transaction takes its snapshot at the first read.
      sqlite.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch (err) {
      throw new CopyError(`cannot read the SQLite store ${file}: ${(err as Error).message}`);
    }
    return new SqliteSnapshot(sqlite);
  }

  /** The names of the migrations applied to this store, in order; empty when it was never migrated. */
  migrations(): string[] {
    const bookkeeping = this.#sqlite
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'")
      .get();
    if (!bookkeeping) return [];
    return this.#sqlite.prepare('SELECT name FROM kysely_migration ORDER BY name').pluck().all() as string[];
  }

  tables(): TableShape[] {
    const names = this.#sqlite
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all() as string[];
    return names.filter(isDurableTable).map((name) => ({
      name,
      columns: (this.#sqlite.pragma(`table_info(${quoteIdentifier(name)})`) as Array<{ name: string }>).map(
        (c) => c.name,
      ),
      references: [
        ...new Set(
          (this.#sqlite.pragma(`foreign_key_list(${quoteIdentifier(name)})`) as Array<{ table: string }>).map(
            (fk) => fk.table,
          ),
        ),
      ],
    }));
  }

  count(table: string): number {
    return this.#sqlite
      .prepare(`SELECT count(*) FROM ${quoteIdentifier(table)}`)
      .pluck()
      .get() as number;
  }

  /**
   * The rows of a table, `size` at a time, each row's values in the order of `columns`. Integers come as they are
   * stored (bigint), text and blobs unchanged: sealed secrets and hashed audit events are copied byte for byte.
   */
  *batches(table: TableShape, size: number): Generator<Array<Array<string | number | Buffer | null>>> {
    const statement = this.#sqlite
      .prepare(`SELECT ${table.columns.map(quoteIdentifier).join(', ')} FROM ${quoteIdentifier(table.name)}`)
      .raw(true)
      .safeIntegers(true);
    let batch: Array<Array<string | number | Buffer | null>> = [];
    for (const row of statement.iterate() as IterableIterator<SqliteValue[]>) {
      batch.push(row.map(toParameter));
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  close(): void {
    if (this.#sqlite.inTransaction) this.#sqlite.exec('ROLLBACK');
    this.#sqlite.close();
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The migrations applied to a PostgreSQL store, in order. */
async function targetMigrations(db: Db): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
  return rows.map((r) => r.name);
}

/** The durable tables of the PostgreSQL store with their columns. */
async function targetTables(db: Db): Promise<Map<string, Set<string>>> {
  const { rows } = await sql<{ table_name: string; column_name: string }>`
    SELECT c.table_name, c.column_name
    FROM information_schema.columns c
    JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'`.execute(db);
  const tables = new Map<string, Set<string>>();
  for (const { table_name, column_name } of rows) {
    if (!isDurableTable(table_name)) continue;
    if (!tables.has(table_name)) tables.set(table_name, new Set());
    tables.get(table_name)!.add(column_name);
  }
  return tables;
}

/** Checks that both stores are at the same migration and hold the same tables with the same columns. */
function checkSameSchema(
  source: { migrations: string[]; tables: TableShape[] },
  target: { migrations: string[]; tables: Map<string, Set<string>> },
  known: readonly string[],
): void {
  if (source.migrations.length === 0)
    throw new CopyError('the source is not a Poort store: it has no migration history');
  const unknown = source.migrations.filter((m) => !known.includes(m));
  if (unknown.length > 0)
    throw new CopyError(
      `the source was written by a newer Poort (migration ${unknown.join(', ')}): migrate with that version`,
    );
  const missing = known.filter((m) => !source.migrations.includes(m));
  if (missing.length > 0)
    throw new CopyError(
      `the source lacks migration ${missing.join(', ')}: run any poort command on it (or start the server) once ` +
        'with this version to bring it up to date, then migrate',
    );
  if (target.migrations.join() !== source.migrations.join())
    throw new CopyError(
      `the target is at migrations ${target.migrations.join(', ')}, the source at ${source.migrations.join(', ')}`,
    );
  for (const table of source.tables) {
    const columns = target.tables.get(table.name);
    if (!columns) throw new CopyError(`the target has no table ${table.name}`);
    const absent = table.columns.filter((c) => !columns.has(c));
    if (absent.length > 0)
      throw new CopyError(`the target's table ${table.name} has no column ${absent.join(', ')}`);
  }
  const extra = [...target.tables.keys()].filter((t) => !source.tables.some((s) => s.name === t));
  if (extra.length > 0)
    throw new CopyError(
      `the target holds ${extra.length === 1 ? 'a table' : 'tables'} ${extra.join(', ')} that Poort's store does ` +
        'not have: migrate into a new, empty database',
    );
}

/** Moves every serial or identity sequence of the copied tables past the highest copied value. */
async function resetSequences(trx: Db, tables: readonly TableShape[]): Promise<void> {
  const { rows } = await sql<{ table_name: string; column_name: string; sequence: string }>`
    SELECT table_name, column_name, pg_get_serial_sequence(format('%I', table_name), column_name) AS sequence
    FROM information_schema.columns
    WHERE table_schema = current_schema()
      AND pg_get_serial_sequence(format('%I', table_name), column_name) IS NOT NULL`.execute(trx);
  for (const row of rows) {
    if (!tables.some((t) => t.name === row.table_name)) continue;
    await sql`SELECT setval(${row.sequence}::regclass, COALESCE(MAX(${sql.ref(row.column_name)}), 0) + 1, false)
      FROM ${sql.table(row.table_name)}`.execute(trx);
  }
}

export interface TableCount {
  table: string;
  rows: number;
}

export interface CopyOptions {
  /** the migrations this Poort knows: source and target must both be at exactly these */
  migrations: readonly string[];
  /** most rows per INSERT (fewer for wide tables) */
  batch?: number;
  /** runs last inside the target's transaction, after the rows are in: the copy commits only if it succeeds */
  finish?: (trx: Db, counts: TableCount[]) => Promise<void>;
}

/**
 * Copies every durable table of the SQLite snapshot into the (migrated, empty) PostgreSQL store in one
 * transaction: all or nothing. Refuses a target that holds any row, naming the table. The tables are found by
 * looking, not listed, so a table a later migration adds is copied without changing this code.
 */
export async function copySnapshot(
  source: SqliteSnapshot,
  target: Db,
  options: CopyOptions,
): Promise<TableCount[]> {
  const tables = source.tables();
  checkSameSchema(
    { migrations: source.migrations(), tables },
    { migrations: await targetMigrations(target), tables: await targetTables(target) },
    options.migrations,
  );
  const ordered = copyOrder(tables);
  const expected = new Map(ordered.map((t) => [t.name, source.count(t.name)]));

  return target.transaction().execute(async (trx) => {
    // Nothing else writes these tables until the copy commits: a server started on the target meanwhile waits.
    await sql`LOCK TABLE ${sql.join(ordered.map((t) => sql.table(t.name)))} IN EXCLUSIVE MODE`.execute(trx);
    const filled: string[] = [];
    for (const table of tables) {
      const { rows } = await sql`SELECT 1 FROM ${sql.table(table.name)} LIMIT 1`.execute(trx);
      if (rows.length > 0) filled.push(table.name);
    }
    if (filled.length > 0)
      throw new CopyError(
        `the target is not empty: ${filled.length === 1 ? 'table' : 'tables'} ${filled.join(', ')} ` +
          `${filled.length === 1 ? 'has' : 'have'} rows. Migrate into a new, empty database`,
      );

    const counts: TableCount[] = [];
    for (const table of ordered) {
      const columns = sql.join(table.columns.map((c) => sql.ref(c)));
      for (const batch of source.batches(table, batchRows(table.columns.length, options.batch))) {
        const values = sql.join(batch.map((row) => sql`(${sql.join(row)})`));
        try {
          // OVERRIDING SYSTEM VALUE: an identity column keeps the copied id instead of drawing a new one.
          await sql`INSERT INTO ${sql.table(table.name)} (${columns}) OVERRIDING SYSTEM VALUE VALUES ${values}`.execute(
            trx,
          );
        } catch (err) {
          throw new CopyError(`copying table ${table.name} failed: ${(err as Error).message}`);
        }
      }
      const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(table.name)}`.execute(
        trx,
      );
      const copied = Number(rows[0]!.n);
      if (copied !== expected.get(table.name))
        throw new CopyError(
          `table ${table.name}: ${copied} rows arrived of the ${expected.get(table.name)} in the source`,
        );
      counts.push({ table: table.name, rows: copied });
    }
    await resetSequences(trx, ordered);
    counts.sort((a, b) => a.table.localeCompare(b.table));
    await options.finish?.(trx, counts);
    return counts;
  });
}
