import crypto from 'node:crypto';
import pg from 'pg';

/** The server the tests use; each test file creates a database of its own on it. */
export const POSTGRES_ADMIN_URL =
  process.env.POORT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${POSTGRES_ADMIN_URL} (${String(err)}). The PostgreSQL tests need a running ` +
        'server with trust authentication for user postgres and a database "test": install it with ' +
        '`apt-get install postgresql` and start it (`.ci/run` starts it), or point POORT_TEST_POSTGRES_URL elsewhere.',
      { cause: err },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates poort_test_<pid>_<random>, empty or as a copy of the database `template` (which nobody may be connected
 * to); drop() removes it, even with connections still open.
 */
export async function createTestDatabase(template?: string): Promise<TestDatabase> {
  const name = `poort_test_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  await admin(async (c) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await c.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
      } catch (err) {
        // 55006: the template's last connections are still going away (a pool closes them asynchronously)
        if ((err as { code?: string }).code !== '55006' || attempt >= 50) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
