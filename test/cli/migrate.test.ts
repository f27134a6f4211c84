import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { generate } from 'otplib';
import * as oidc from 'openid-client';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresAuditLog } from '../../src/audit/pg-log.js';
import { parseSource, parseTarget, redactUrl } from '../../src/cli/commands/migrate.js';
import { loadConfig } from '../../src/config/load.js';
import { KeyStore } from '../../src/keys/keystore.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { openPostgres } from '../../src/store/postgres.js';
import { Browser, readForm } from '../helpers/browser.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { authorizeInBrowser, FAST_ARGON2, redeemCode, startAuthorization } from '../helpers/oidc.js';
import { freePort, startPoort, tempDir, type TestPoort } from '../helpers/poort.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const REDIRECT = 'http://127.0.0.1:7931/cb';
const PASSWORD = 'a passphrase nobody guesses';
const CLIENT_SECRET = 'app-secret-0123456789-migrated';
const TOTP_SEED = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const FINGERPRINT = 'ab'.repeat(32);
const POLICY = `rules:
  - id: no-contractors
    when: { groups: [contractors] }
    then: deny
default: allow
`;
/** Events appended besides the real sign-ins: more than one batch of the copy. */
const MANY = 2500;

/**
 * The code the token shows now, or a period ahead: after the migration the factor still remembers the period used
 * before it, so a later sign-in needs a newer code.
 */
const codeAt = (steps: number) =>
  generate({ secret: TOTP_SEED, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

interface Summary {
  source: string;
  target: string;
  tables: Array<{ table: string; rows: number }>;
  total: number;
  audit_seq: number;
}

type Row = Record<string, unknown>;

/** Every row of every durable table, as comparable text, sorted: the two stores must say exactly the same. */
function normalise(rows: Row[]): string[] {
  return rows
    .map((row) =>
      JSON.stringify(
        Object.fromEntries(
          Object.keys(row)
            .sort()
            .map((k) => [k, row[k] === null ? null : String(row[k])]),
        ),
      ),
    )
    .sort();
}

describe('poort migrate arguments', () => {
  it('reads the source as sqlite:<data dir>, sqlite://<path> or a bare path, and refuses other schemes', () => {
    expect(parseSource('sqlite:./data')).toBe('./data');
    expect(parseSource('sqlite:///var/lib/poort/data')).toBe('/var/lib/poort/data');
    expect(parseSource('SQLite:data/poort.sqlite')).toBe('data/poort.sqlite');
    expect(parseSource('/var/lib/poort/data')).toBe('/var/lib/poort/data');
    expect(() => parseSource('postgres://db/poort')).toThrow('unknown source scheme "postgres:"');
    expect(() => parseSource('sqlite:')).toThrow('expected sqlite:<data dir>');
  });

  it('takes only a postgres:// or postgresql:// target, and never shows its password', () => {
    expect(parseTarget('postgresql://db/poort')).toBe('postgresql://db/poort');
    expect(() => parseTarget('mysql://db/poort')).toThrow('unknown target scheme "mysql:"');
    expect(() => parseTarget('db.example.org')).toThrow('expected a URL');
    expect(redactUrl('postgres://poort:s3cret@db:5432/poort')).toBe('postgres://poort:****@db:5432/poort');
    expect(redactUrl('postgres://db/poort?user=poort&password=s3cret')).toBe(
      'postgres://db/poort?user=poort&password=****',
    );
  });
});

// The source is a real Poort on SQLite filled through its CLI and sign-ins; the target a fresh PostgreSQL database.
describe('poort migrate', { timeout: 180_000 }, () => {
  let source: TestPoort;
  let quiet: TestDatabase;
  let busy: TestDatabase;
  let migrated: RunningServer | undefined;
  let migratedDir: string | undefined;
  let summary: Summary;
  const ids: Record<string, string> = {};

  const sourceFile = () => path.join(source.dir, 'data', 'poort.sqlite');
  const run = (args: string[], options: { input?: string; env?: Record<string, string> } = {}) => {
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('POORT_')),
    );
    return runCli(args, {
      cwd: source.dir,
      env: {
        ...env,
        POORT_DATA_DIR: path.join(source.dir, 'data'),
        POORT_KEYS_DIR: path.join(source.dir, 'keys'),
        ...options.env,
      },
      input: options.input,
    });
  };
  const ok = async (args: string[], input?: string): Promise<CliResult> => {
    const result = await run(args, { input });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return result;
  };
  /** A configuration file for the CLI on a PostgreSQL store. */
  const postgresConfig = (database: TestDatabase): string => {
    const file = path.join(source.dir, `${database.name}.yaml`);
    fs.writeFileSync(file, `storage: { durable: postgres, database_url: '${database.url}' }\n`);
    return file;
  };
  const readSource = <T>(fn: (db: SQLite.Database) => T): T => {
    const db = new SQLite(sourceFile(), { readonly: true, fileMustExist: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  const withTarget = async <T>(database: TestDatabase, fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };

  /** Walks a sign-in with the password (and a TOTP code `totp` periods ahead) through a browser. */
  async function signIn(issuer: string, username: string, totp?: number) {
    const config = await oidc.discovery(new URL(issuer), 'app', CLIENT_SECRET, undefined, {
      execute: [oidc.allowInsecureRequests],
    });
    const browser = new Browser();
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    let page = await authorizeInBrowser(browser, pending, { username, password: PASSWORD });
    if (totp !== undefined) {
      expect(page.body).toContain('autocomplete="one-time-code"');
      const form = readForm(page);
      page = await browser.navigate(
        form.action,
        { form: { ...form.fields, code: await codeAt(totp) } },
        REDIRECT,
      );
    }
    return { page, redeem: () => redeemCode(config, page, pending) };
  }

  beforeAll(async () => {
    [quiet, busy] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    // the source is the embedded store on either test backend (on scaled, its ephemeral state is on Redis)
    source = await startPoort(`${FAST_ARGON2}storage: { durable: sqlite }\n`);
    const policyFile = path.join(source.dir, 'policy.yaml');
    fs.writeFileSync(policyFile, POLICY);

    for (const [name, group] of [
      ['anna', 'staff'],
      ['carl', 'contractors'],
    ] as const)
      await ok(
        [
          'user',
          'add',
          name,
          '--email',
          `${name}@example.org`,
          '--name',
          name,
          '--groups',
          group,
          '--password-stdin',
        ],
        PASSWORD,
      );
    // Changes to different things: the CLI processes may run side by side, as several operators would.
    await Promise.all([
      ok(
        [
          'client',
          'add',
          'app',
          '--secret-stdin',
          '--first-party',
          '--redirect-uri',
          REDIRECT,
          '--name',
          'App',
        ],
        CLIENT_SECRET,
      ),
      ok(['mfa', 'totp', 'import', 'anna', '--secret-stdin', '--name', 'Token'], TOTP_SEED),
      ok(['mfa', 'enrolment-code', 'carl']),
      ok(['policy', 'set', '--file', policyFile]),
      ok(['device', 'add', 'laptop-1', '--cert-fingerprint', FINGERPRINT, '--owner', 'anna']),
    ]);
    await ok(['mfa', 'recovery-codes', 'anna']);
    for (const row of readSource((db) => db.prepare('SELECT id, username FROM users').all()) as Array<{
      id: string;
      username: string;
    }>)
      ids[row.username] = row.id;

    // Real sign-ins on the embedded store: anna with her token, carl refused by the policy.
    const anna = await signIn(source.issuer, 'anna', 0);
    expect(anna.page.status).toBe(0);
    await anna.redeem();
    expect((await signIn(source.issuer, 'carl')).page.status).toBe(403);

    const { audit } = source.services;
    for (let done = 0; done < MANY; done += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          audit.append({
            action: 'signin.password',
            outcome: 'failure',
            actor: { type: 'user' },
            subject: { username: `guess-${done + i}`, known: false },
            source: { ip: '192.0.2.7', country: null },
            reason: 'invalid_credentials',
          }),
        ),
      );
      await audit.checkpoint();
    }
    await audit.setCursor('siem', 1200);
  }, 240_000);

  afterAll(async () => {
    await migrated?.close();
    if (migratedDir) fs.rmSync(migratedDir, { recursive: true, force: true });
    await source?.stop();
    await quiet?.drop();
    await busy?.drop();
  });

  it('copies every durable table into an empty PostgreSQL database, row for row, and records it', async () => {
    const result = await run(['migrate', '--from', 'sqlite:./data', '--json'], {
      env: { POORT_DATABASE_URL: quiet.url },
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    summary = JSON.parse(result.stdout) as Summary;

    const tables = readSource(
      (db) =>
        db
          .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name NOT LIKE 'kysely%' ORDER BY name",
          )
          .pluck()
          .all() as string[],
    );
    expect(summary.tables.map((t) => t.table)).toEqual(tables);
    const count = (name: string) => summary.tables.find((t) => t.table === name)!.rows;
    expect(count('users')).toBe(2);
    expect(count('memberships')).toBe(2);
    expect(count('factors')).toBe(1);
    expect(count('recovery_codes')).toBe(10);
    expect(count('enrolment_codes')).toBe(1);
    expect(count('policy_versions')).toBe(1);
    expect(count('devices')).toBe(1);
    // one per sink of Poort's own that has read the trail (rows, not positions: those move on)
    const cursors = readSource((db) =>
      db.prepare('SELECT count(*) FROM audit_cursors').pluck().get(),
    ) as number;
    expect(cursors).toBeGreaterThanOrEqual(1);
    expect(count('audit_cursors')).toBe(cursors);
    expect(count('audit_checkpoints')).toBeGreaterThanOrEqual(5);
    expect(count('audit_events')).toBeGreaterThan(MANY);
    expect(summary.audit_seq).toBe(count('audit_events') + 1);
    expect(summary.target).toBe(quiet.url);

    // Ids, timestamps, sealed secrets, hashes: the same bytes on both sides, table by table.
    await withTarget(quiet, async (client) => {
      for (const name of tables) {
        const before = readSource((db) => db.prepare(`SELECT * FROM ${name}`).all() as Row[]);
        const { rows: after } = await client.query<Row>(
          name === 'audit_events' ? `SELECT * FROM ${name} WHERE seq < $1` : `SELECT * FROM ${name}`,
          name === 'audit_events' ? [summary.audit_seq] : [],
        );
        expect(normalise(after), name).toEqual(normalise(before));
        expect(after.length).toBe(count(name));
      }
      const { rows } = await client.query<{ event: string }>(
        'SELECT event FROM audit_events WHERE seq = $1',
        [summary.audit_seq],
      );
      const event = JSON.parse(rows[0]!.event) as Record<string, unknown>;
      expect(event).toMatchObject({
        action: 'store.migrated',
        outcome: 'success',
        actor: { type: 'cli' },
        details: {
          from: 'sqlite',
          source: sourceFile(),
          tables: { users: 2, audit_events: count('audit_events') },
        },
      });
    });
  });

  it('runs Poort on the migrated store: the same users, factors, client secret and policy sign in', async () => {
    migratedDir = tempDir('poort-migrated-');
    const port = await freePort();
    const issuer = `http://localhost:${port}`;
    const file = path.join(migratedDir, 'poort.yaml');
    fs.writeFileSync(file, `${FAST_ARGON2}storage: { durable: postgres, database_url: '${quiet.url}' }\n`);
    migrated = await startServer(
      loadConfig({
        file,
        env: {
          POORT_PORT: String(port),
          POORT_ISSUER: issuer,
          POORT_DATA_DIR: path.join(migratedDir, 'data'),
          // the keys folder goes along: secrets stay sealed with its keys
          POORT_KEYS_DIR: path.join(source.dir, 'keys'),
        },
      }),
      { log: pino({ level: 'silent' }) },
    );

    const anna = await signIn(issuer, 'anna', 1);
    expect(anna.page.status).toBe(0);
    const claims = (await anna.redeem()).claims()!;
    expect(claims).toMatchObject({ sub: ids.anna, amr: ['pwd', 'otp', 'mfa'] });
    const carl = await signIn(issuer, 'carl');
    expect(carl.page.status).toBe(403);
    expect(carl.page.body).toContain('policy_denied');
  });

  it('leaves a trail that verifies on PostgreSQL and continues after the server appended to it', async () => {
    const config = postgresConfig(quiet);
    const verified = await run(['--config', config, 'audit', 'verify', '--json']);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    const report = JSON.parse(verified.stdout) as { ok: boolean; events: number; lastSeq: number };
    expect(report.ok).toBe(true);
    expect(report.lastSeq).toBeGreaterThan(summary.audit_seq);
    expect(report.events).toBe(report.lastSeq);
    const search = await run(['--config', config, 'audit', 'search', '--action', 'store.migrated']);
    expect(search.stdout).toContain('store.migrated');
  });

  it('fails verification when a copied event is changed on PostgreSQL', async () => {
    const seq = await withTarget(quiet, async (client) => {
      const { rows } = await client.query<{ seq: number }>(
        'UPDATE audit_events SET event = replace(event, \'"failure"\', \'"success"\') ' +
          "WHERE seq = (SELECT min(seq) FROM audit_events WHERE outcome = 'failure') RETURNING seq",
      );
      return rows[0]!.seq;
    });
    const verified = await run(['--config', postgresConfig(quiet), 'audit', 'verify']);
    expect(verified.code).toBe(1);
    expect(verified.stderr).toContain(`the audit trail is NOT intact: at event ${seq}`);
    expect(verified.stderr).toContain('changed after it was written');
  });

  it('refuses to migrate into the same database again, naming a table that has rows', async () => {
    const again = await run(['migrate', '--from', 'sqlite:./data', '--to', quiet.url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^poort: the target is not empty: tables .*users.* have rows/);
    expect(again.stdout).toBe('');
  });

  it('copies one consistent snapshot while the server goes on writing to the embedded store', async () => {
    const { audit } = source.services;
    let writing = true;
    const writer = (async () => {
      let n = 0;
      while (writing) {
        await audit.append({
          action: 'signin.password',
          outcome: 'failure',
          actor: { type: 'user' },
          subject: { username: `busy-${n++}`, known: false },
          reason: 'invalid_credentials',
        });
        if (n % 50 === 0) await audit.checkpoint();
      }
      return n;
    })();
    const result = await run(['migrate', '--from', path.join(source.dir, 'data'), '--to', busy.url]);
    writing = false;
    const written = await writer;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(written).toBeGreaterThan(0);
    expect(result.stdout).toMatch(/^audit_events +\d+$/m);
    expect(result.stdout).toContain('(store.migrated)');

    const db = openPostgres(busy.url, { max: 2 });
    try {
      const report = await new PostgresAuditLog(db, new KeyStore(path.join(source.dir, 'keys'))).verify();
      expect(report).toMatchObject({ ok: true });
      const head = await db
        .selectFrom('audit_events')
        .select(['seq', 'hash'])
        .where('seq', '=', report.lastSeq! - 1)
        .executeTakeFirstOrThrow();
      const sourceHash = readSource(
        (s) => s.prepare('SELECT hash FROM audit_events WHERE seq = ?').pluck().get(head.seq) as string,
      );
      expect(head.hash).toBe(sourceHash);
      const sourceLast = readSource(
        (s) => s.prepare('SELECT max(seq) FROM audit_events').pluck().get() as number,
      );
      expect(sourceLast).toBeGreaterThan(head.seq);
    } finally {
      await db.destroy();
    }
  });

  it.concurrent.for([
    ['no --from', ['migrate', '--to', 'postgres://127.0.0.1/x'], 2, "required option '--from <source>'"],
    ['an unknown flag', ['migrate', '--from', './data', '--frobnicate'], 2, "unknown option '--frobnicate'"],
    [
      'an unknown source scheme',
      ['migrate', '--from', 'mysql://h/db', '--to', 'postgres://h/x'],
      2,
      'mysql:',
    ],
    ['an unknown target scheme', ['migrate', '--from', './data', '--to', 'mysql://h/db'], 2, 'mysql:'],
    ['no target anywhere', ['migrate', '--from', './data'], 2, "'--to <url>' not specified"],
    [
      'a source that is not there',
      ['migrate', '--from', 'sqlite:./nowhere', '--to', 'postgres://h/x'],
      1,
      'no Poort data',
    ],
    [
      'a source that is not a database',
      ['migrate', '--from', './policy.yaml', '--to', 'postgres://h/x'],
      1,
      'cannot read the SQLite store',
    ],
    [
      'an unreachable target',
      ['migrate', '--from', './data', '--to', 'postgres://postgres:hunter2@127.0.0.1:1/x'],
      1,
      'cannot open the PostgreSQL store postgres://postgres:****@127.0.0.1:1/x',
    ],
  ] as const)(
    'refuses %s with a clear message and a non-zero exit',
    async ([, args, code, message], { expect }) => {
      const result = await run([...args]);
      expect(result.code).toBe(code);
      expect(result.stderr).toContain(message);
      expect(result.stderr).not.toContain('hunter2');
      expect(result.stderr).not.toMatch(/\n\s+at /);
      if (code === 2) expect(result.stderr).toContain('Usage: poort migrate');
      expect(result.stdout).toBe('');
    },
  );
});
