import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../helpers/cli.js';
import { FAST_ARGON2 } from '../helpers/oidc.js';
import { freePort } from '../helpers/poort.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { ISSUE_EXAMPLE } from '../policy/fixture.js';

const PASSWORD = 'correct horse battery';

// An administrator must be able to manage accounts while Redis is down (to disable a compromised account, say):
// the CLI opens the ephemeral store only for the commands that use it.
describe('poort while Redis is unreachable', { timeout: 120_000 }, () => {
  let database: TestDatabase;
  let box: Sandbox;
  let redisUrl: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    // a port nobody listens on
    redisUrl = `redis://127.0.0.1:${await freePort()}`;
    box = createSandbox({ backend: 'embedded' });
    fs.writeFileSync(
      path.join(box.dir, 'poort.yaml'),
      `${FAST_ARGON2}storage:\n  durable: postgres\n  database_url: '${database.url}'\n  ephemeral: redis\n` +
        `  redis_url: '${redisUrl}'\n  redis: { connect_timeout: 1s }\n`,
    );
    fs.writeFileSync(path.join(box.dir, 'issue.yaml'), ISSUE_EXAMPLE);
  });
  afterAll(async () => {
    await box?.remove();
    await database?.drop();
  });

  it('adds, lists and disables users and registers a client on PostgreSQL alone', async () => {
    const add = await box.run(['user', 'add', 'dana', '--email', 'dana@example.org', '--password-stdin'], {
      input: `${PASSWORD}\n`,
    });
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const disable = await box.run(['user', 'disable', 'dana']);
    expect(disable.stderr).toBe('');
    expect(disable.code).toBe(0);
    const list = await box.run(['user', 'list', '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject([{ username: 'dana', enabled: false }]);
    const client = await box.run(
      ['client', 'add', 'wiki', '--public', '--redirect-uri', 'http://127.0.0.1:8080/cb'],
      {},
    );
    expect(client.stderr).toBe('');
    expect(client.code).toBe(0);
  });

  it('shows the audit shipping from PostgreSQL, and says that Redis (which knows the shipping node) is away', async () => {
    const result = await box.run(['audit', 'shipping']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Trail head: +event \d+, /m);
    expect(result.stdout).toContain(
      `unknown: the key-value store could not be read (cannot connect to Redis at ${redisUrl}`,
    );
    expect(result.stdout).toMatch(/^Shipping node: +unknown: /m);
    expect(result.stdout).toMatch(/^oidc-sessions-ended +0 +\d+ /m);
  });

  it('still fails cleanly, naming Redis, for a command that needs the ephemeral store', async () => {
    const result = await box.run([
      'policy',
      'test',
      '--file',
      'issue.yaml',
      '--user',
      'dana',
      '--ip',
      '192.0.2.1',
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `poort: cannot connect to Redis at ${redisUrl}: connect ECONNREFUSED 127.0.0.1:${new URL(redisUrl).port}\n`,
    );
  });
});
