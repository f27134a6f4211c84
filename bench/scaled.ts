import crypto from 'node:crypto';
import pg from 'pg';
import { createClient } from 'redis';

/** The PostgreSQL server the bench creates its database on (it needs CREATE DATABASE there). */
export const BENCH_POSTGRES_URL =
  process.env.BENCH_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
/** The Redis the bench keeps its ephemeral state in, under a key prefix of its own. */
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';

/** A database and a Redis key prefix of the bench's own, for the Redis + PostgreSQL backend. */
export interface ScaledStore {
  database: string;
  redisPrefix: string;
  /** the `storage:` block of poort.yaml that points Poort at them */
  yaml: string;
  /** drops the database and deletes every key under the prefix */
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: BENCH_POSTGRES_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${BENCH_POSTGRES_URL} (${(err as Error).message}): set BENCH_POSTGRES_URL to a ` +
        'server where this user may CREATE DATABASE, or run only --backend embedded',
      { cause: err },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function redisClient() {
  return createClient({ url: BENCH_REDIS_URL, socket: { connectTimeout: 3000, reconnectStrategy: false } });
}

async function withRedis<T>(fn: (client: ReturnType<typeof redisClient>) => Promise<T>): Promise<T> {
  const client = redisClient();
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    client.destroy();
    throw new Error(
      `Redis is not reachable at ${BENCH_REDIS_URL} (${(err as Error).message}): set BENCH_REDIS_URL, or run only --backend embedded`,
      { cause: err },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export async function createScaledStore(): Promise<ScaledStore> {
  const tag = `${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const database = `poort_bench_${tag}`;
  const redisPrefix = `poort-bench-${tag}:`;
  await withRedis((c) => c.ping());
  await admin((c) => c.query(`CREATE DATABASE ${database}`));
  const url = new URL(BENCH_POSTGRES_URL);
  url.pathname = `/${database}`;
  const yaml =
    'storage:\n' +
    '  durable: postgres\n' +
    `  database_url: '${url.toString()}'\n` +
    '  ephemeral: redis\n' +
    `  redis_url: '${BENCH_REDIS_URL}'\n` +
    `  redis_prefix: '${redisPrefix}'\n`;
  return {
    database,
    redisPrefix,
    yaml,
    async drop() {
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
      await withRedis(async (c) => {
        // the prefix is ours alone (pid and random): SCAN, never KEYS, on a Redis others use too
        for await (const keys of c.scanIterator({ MATCH: `${redisPrefix}*`, COUNT: 1000 })) {
          if (keys.length > 0) await c.del(keys);
        }
      });
    },
  };
}
