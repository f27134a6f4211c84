import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { openServices, type Services } from '../../src/server/services.js';
import { tempDir } from '../helpers/poort.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis-server.js';

const PASSWORD = 'pa55-w0rd-in-the-url';

describe('connection settings for PostgreSQL and Redis', { timeout: 60_000 }, () => {
  let dir: string;
  let database: TestDatabase;

  const write = (yaml: string) => {
    const file = path.join(dir, `poort-${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(file, yaml);
    return file;
  };
  const load = (yaml: string, env: NodeJS.ProcessEnv = {}) =>
    loadConfig({
      file: write(yaml),
      env: { POORT_DATA_DIR: path.join(dir, 'data'), POORT_KEYS_DIR: path.join(dir, 'keys'), ...env },
    });
  const configError = (yaml: string, env: NodeJS.ProcessEnv = {}) => {
    try {
      load(yaml, env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('expected a ConfigError');
  };
  /** Opens what the server opens for this configuration, runs fn, closes again. */
  const withServices = async <T>(yaml: string, fn: (services: Services) => Promise<T>) => {
    const services = await openServices(load(yaml));
    try {
      return await fn(services);
    } finally {
      await services.close();
    }
  };
  const startError = async (yaml: string) =>
    openServices(load(yaml)).then(
      async (services) => {
        await services.close();
        throw new Error('expected start-up to fail');
      },
      (err: Error) => err.message,
    );

  beforeAll(async () => {
    dir = tempDir();
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('documents the defaults: a pool of 10, 30 s idle, 10 s to connect, 30 s per statement; Redis 10 s, backoff to 5 s', () => {
    const { storage } = load('').config;
    expect(storage.postgres).toEqual({
      pool_max: 10,
      idle_timeout: 30,
      connect_timeout: 10,
      statement_timeout: 30,
    });
    expect(storage.redis).toEqual({ connect_timeout: 10, reconnect_max_delay: 5 });
  });

  it('stops start-up on an unusable URL, naming the file or variable, the key path and the reason, never the password', () => {
    const cases: Array<[string, NodeJS.ProcessEnv, RegExp]> = [
      [
        `storage: { database_url: 'mysql://poort:${PASSWORD}@db/poort' }`,
        {},
        /storage\.database_url: expected a postgres:\/\/ or postgresql:\/\/ URL, not mysql:/,
      ],
      [
        `storage: { database_url: 'postgres://poort:${PASSWORD}@db' }`,
        {},
        /storage\.database_url: the URL names no database/,
      ],
      [
        `storage: { database_url: 'db.example.org:${PASSWORD}' }`,
        {},
        /storage\.database_url: expected a (URL such|postgres)/,
      ],
      [
        `storage: { redis_url: 'http://:${PASSWORD}@cache:6379' }`,
        {},
        /storage\.redis_url: expected a redis:\/\/ or rediss:\/\/ URL, not http:/,
      ],
      [
        `storage: { redis_url: 'redis://:${PASSWORD}@cache:6379/zero' }`,
        {},
        /storage\.redis_url: the path of a Redis URL is its database number/,
      ],
      ['', { POORT_REDIS_URL: `cache:${PASSWORD}` }, /^POORT_REDIS_URL \(storage\.redis_url\): /],
      [
        '',
        { POORT_DATABASE_URL: `postgres:///poort?password=${PASSWORD}` },
        /^POORT_DATABASE_URL \(storage\.database_url\): the URL names no host/,
      ],
    ];
    for (const [yaml, env, reason] of cases) {
      const message = configError(yaml, env);
      expect(message).toMatch(reason);
      if (!Object.keys(env).length) expect(message).toContain(dir);
      expect(message).not.toContain(PASSWORD);
    }
    expect(configError('storage: { postgres: { pool_max: 0 } }')).toMatch(
      /storage\.postgres\.pool_max: .*>=1/,
    );
    expect(configError('storage: { postgres: { connect_timeout: 0 } }')).toMatch(
      /storage\.postgres\.connect_timeout: must be at least 1s/,
    );
    expect(configError('storage: { redis: { reconnect_max_delay: soon } }')).toMatch(
      /storage\.redis\.reconnect_max_delay: expected a duration/,
    );
    expect(configError('storage: { redis: { retries: 3 } }')).toMatch(/storage\.redis: unknown key retries/);
  });

  it('gives the PostgreSQL pool its size and statement timeout', async () => {
    const yaml = `storage: { durable: postgres, database_url: '${database.url}', postgres: { pool_max: 2, statement_timeout: 1s } }\n`;
    await withServices(yaml, async (services) => {
      await expect(sql`SELECT pg_sleep(3)`.execute(services.db)).rejects.toThrow(/statement timeout/);
      const watcher = new pg.Client({ connectionString: database.url });
      await watcher.connect();
      try {
        let most = 0;
        const busy = Promise.all(
          Array.from({ length: 6 }, () => sql`SELECT pg_sleep(0.3)`.execute(services.db)),
        );
        const watching = (async () => {
          for (let i = 0; i < 8; i++) {
            const { rows } = await watcher.query<{ n: string }>(
              "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'poort'",
              [database.name],
            );
            most = Math.max(most, Number(rows[0]!.n));
            await new Promise((r) => setTimeout(r, 100));
          }
        })();
        await Promise.all([busy, watching]);
        expect(most).toBe(2);
      } finally {
        await watcher.end();
      }
    });
  });

  describe('Redis with an ACL user', () => {
    let redis: PrivateRedis;
    beforeAll(async () => {
      redis = await startPrivateRedis({
        args: ['--user', 'default', 'off', '--user', 'poort', 'on', `>${PASSWORD}`, '~*', '&*', '+@all'],
      });
    });
    afterAll(async () => redis?.stop());

    it('signs in with the user and password from the URL', async () => {
      const url = `redis://poort:${PASSWORD}@127.0.0.1:${redis.port}/0`;
      await withServices(`storage: { ephemeral: redis, redis_url: '${url}' }\n`, async (services) => {
        await services.kv.set('probe', { ok: true }, 60);
        expect(await services.kv.get('probe')).toEqual({ ok: true });
        await services.kv.ping();
      });
    });

    it('does not start with a wrong password, and does not print it', async () => {
      const url = `redis://poort:not-${PASSWORD}@127.0.0.1:${redis.port}`;
      const message = await startError(
        `storage: { ephemeral: redis, redis_url: '${url}', redis: { connect_timeout: 1s } }\n`,
      );
      expect(message).toMatch(/cannot connect to Redis at redis:\/\/poort:\*\*\*@127\.0\.0\.1/);
      expect(message).toMatch(/WRONGPASS|invalid username-password/i);
      expect(message).not.toContain(PASSWORD);
    });
  });

  describe('Redis over TLS', () => {
    let redis: PrivateRedis;
    let caFile: string;
    beforeAll(async () => {
      const key = path.join(dir, 'redis-key.pem');
      caFile = path.join(dir, 'redis-cert.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          key,
          '-out',
          caFile,
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
      redis = await startPrivateRedis({ tls: { cert: caFile, key } });
    });
    afterAll(async () => redis?.stop());

    it('speaks rediss:// and checks the certificate against tls_ca_file', async () => {
      expect(redis.url).toMatch(/^rediss:/);
      await withServices(
        `storage: { ephemeral: redis, redis_url: '${redis.url}', redis: { tls_ca_file: '${caFile}' } }\n`,
        async (services) => {
          await services.kv.set('tls', 1, 60);
          expect(await services.kv.get('tls')).toBe(1);
        },
      );
    });

    it('refuses a certificate no trusted CA signed', async () => {
      const message = await startError(
        `storage: { ephemeral: redis, redis_url: '${redis.url}', redis: { connect_timeout: 1s } }\n`,
      );
      expect(message).toMatch(/cannot connect to Redis at rediss:\/\/127\.0\.0\.1.*self[- ]signed/i);
    });

    it('wants a rediss:// URL with tls_ca_file', async () => {
      const message = await startError(
        `storage: { ephemeral: redis, redis_url: 'redis://127.0.0.1:${redis.port}', redis: { tls_ca_file: '${caFile}' } }\n`,
      );
      expect(message).toMatch(/storage\.redis\.tls_ca_file: needs a rediss:\/\/ storage\.redis_url/);
    });
  });
});
