import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { runCli } from '../helpers/cli.js';
import { authorizeInBrowser, FAST_ARGON2, relyingParty, startAuthorization } from '../helpers/oidc.js';
import type { Db } from '../../src/store/database.js';
import { copyBackend, withDurable, withStorage } from '../helpers/backend.js';
import { startPoort, tempDir, type TestPoort } from '../helpers/poort.js';

const REDIRECT = 'http://127.0.0.1:7950/cb';
const PASSWORD = 'a passphrase nobody guesses';

type Ecs = Record<string, unknown> & {
  event: { action: string; outcome: string; category: string[]; sequence: number };
  user?: { name?: string };
  source?: { ip?: string; geo?: { country_iso_code?: string } };
  poort: { hash: string; prev_hash: string; outcome: string };
};

/** `poort audit …` searches, verifies and archives the trail a real server wrote during real sign-ins. */
describe('poort audit', { timeout: 120_000 }, () => {
  let poort: TestPoort;
  let dir: string;
  const cli = (args: string[], at = dir) =>
    runCli(['audit', ...args], {
      cwd: at,
      env: {
        PATH: process.env.PATH,
        POORT_DATA_DIR: path.join(at, 'data'),
        POORT_KEYS_DIR: path.join(at, 'keys'),
      },
    });
  /** A copy of the trail to break on purpose: the folder, and on the scaled backend a copy of the database. */
  const copy = async () => {
    const to = tempDir('poort-audit-copy-');
    if (fs.existsSync(path.join(dir, 'data'))) {
      fs.cpSync(path.join(dir, 'data'), path.join(to, 'data'), { recursive: true });
    }
    fs.cpSync(path.join(dir, 'keys'), path.join(to, 'keys'), { recursive: true });
    const stores = await copyBackend(poort.backend);
    if (stores.backend !== 'embedded')
      fs.writeFileSync(path.join(to, 'poort.yaml'), withStorage('', stores.storage));
    return {
      dir: to,
      tamper: (fn: (db: Db) => Promise<unknown>) => withDurable(stores.storage, path.join(to, 'data'), fn),
      remove: async () => {
        await stores.drop();
        fs.rmSync(to, { recursive: true, force: true });
      },
    };
  };

  beforeAll(async () => {
    poort = await startPoort(`${FAST_ARGON2}server: { trust_proxy: [127.0.0.1/32, "::1/128"] }\n`);
    dir = poort.dir;
    await poort.addUser({ username: 'anna', password: PASSWORD });
    await poort.addClient({ clientId: 'wiki', secret: 'wiki-secret-0123456789', redirectUris: [REDIRECT] });
    const config = await relyingParty(poort, 'wiki', 'wiki-secret-0123456789');
    const attempts: Array<[string, string, string]> = [
      ['145.97.39.155', 'anna', PASSWORD],
      ['8.8.8.8', 'anna', 'not her password'],
      ['8.8.8.8', 'nobody', 'not a password'],
    ];
    for (const [ip, username, password] of attempts) {
      const pending = await startAuthorization(config, { redirectUri: REDIRECT });
      const browser = new Browser({
        'x-forwarded-for': ip,
        'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/140.0',
      });
      await authorizeInBrowser(browser, pending, { username, password });
    }
    await poort.close(); // keeps the folder; signs a last checkpoint
  });
  afterAll(async () => {
    await poort?.backend.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('searches in Elastic Common Schema, one JSON document per line', async () => {
    const result = await cli(['search', '--action', 'signin.*', '--json']);
    expect(result.code).toBe(0);
    const docs = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Ecs);
    expect(docs.map((d) => `${d.event.action}:${d.event.outcome}`)).toEqual([
      'signin.password:failure',
      'signin.password:failure',
      'signin.completed:success',
      'signin.password:success',
    ]);
    const success = docs[3]!;
    expect(success).toMatchObject({
      event: { category: ['authentication'] },
      user: { name: 'anna' },
      source: { ip: '145.97.39.155', geo: { country_iso_code: 'NL' } },
      user_agent: { original: expect.stringContaining('Firefox') },
      service: { name: 'poort' },
      poort: {
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        prev_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    });
    expect(docs[0]).toMatchObject({
      user: { name: 'nobody' },
      source: { geo: { country_iso_code: 'US' } },
      poort: { subject_known: false },
    });
  });

  it('filters by user, outcome, address range, time and count, and writes CSV', async () => {
    const byUser = await cli(['search', '--user', 'anna', '--outcome', 'failure', '--json']);
    expect(byUser.stdout.trim().split('\n')).toHaveLength(1);
    const byRange = await cli(['search', '--ip', '145.97.0.0/16', '--json']);
    expect(
      byRange.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as Ecs).source?.ip),
    ).toEqual(['145.97.39.155', '145.97.39.155']);
    const recent = await cli(['search', '--since', '1h', '--limit', '2', '--json']);
    expect(recent.stdout.trim().split('\n')).toHaveLength(2);
    const none = await cli(['search', '--until', '2000-01-01']);
    expect(none.stdout).toContain('No events match.');
    const csv = await cli(['search', '--user', 'nobody', '--csv']);
    const [header, row] = csv.stdout.trim().split('\n');
    expect(header).toBe('seq,time,action,outcome,reason,user,user_id,application,ip,country,device,actor,id');
    expect(row).toMatch(
      /,signin\.password,failure,invalid_credentials,nobody,,wiki,8\.8\.8\.8,US,desktop \/ Windows \/ Firefox,user,/,
    );
  });

  it('refuses bad search options with usage', async () => {
    for (const args of [
      ['--outcome', 'maybe'],
      ['--ip', 'not-an-address'],
      ['--since', 'yesterday'],
      ['--json', '--csv'],
    ]) {
      const result = await cli(['search', ...args]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/poort: /);
    }
  });

  it('verifies an untouched trail', async () => {
    const result = await cli(['verify']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^OK: \d+ events \(1–\d+\) and \d+ signed checkpoints are intact\.$/m);
  });

  // Plain SQL that SQLite and PostgreSQL both take, as somebody with access to the database would write it.
  it.each([
    [
      'an edited event',
      (db: Db) =>
        sql`UPDATE audit_events SET event = replace(event, '"failure"', '"success"') WHERE seq = (SELECT min(seq) FROM audit_events WHERE outcome = 'failure')`.execute(
          db,
        ),
      /the event was changed after it was written/,
    ],
    [
      'an edited search column',
      (db: Db) =>
        sql`UPDATE audit_events SET subject_name = 'mallory' WHERE subject_name = 'nobody'`.execute(db),
      /the search column subject_name was changed/,
    ],
    [
      'a deleted event',
      (db: Db) => sql`DELETE FROM audit_events WHERE seq = 3`.execute(db),
      /event 3 is missing/,
    ],
    [
      'reordered events',
      async (db: Db) => {
        const rows = await db
          .selectFrom('audit_events')
          .selectAll()
          .where('seq', 'in', [2, 3])
          .orderBy('seq')
          .execute();
        await db.deleteFrom('audit_events').where('seq', 'in', [2, 3]).execute();
        await db
          .insertInto('audit_events')
          .values([
            { ...rows[1]!, seq: 2 },
            { ...rows[0]!, seq: 3 },
          ])
          .execute();
      },
      /at event 2/,
    ],
    [
      'a truncated trail',
      (db: Db) =>
        sql`DELETE FROM audit_events WHERE seq > (SELECT max(seq) - 2 FROM audit_events)`.execute(db),
      /truncated/,
    ],
  ])('catches %s', async (_what, tamper, problem) => {
    const broken = await copy();
    try {
      await broken.tamper(tamper);
      const result = await cli(['verify'], broken.dir);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/poort: the audit trail is NOT intact: at event \d+/);
      expect(result.stderr).toMatch(problem);
    } finally {
      await broken.remove();
    }
  });

  it('archives old events as a signed file, prunes them, and both still verify', async () => {
    const copied = await copy();
    const at = copied.dir;
    try {
      const out = path.join(at, 'archive.jsonl');
      const archived = await cli(['archive', '--before', '2999-01-01', '--out', out], at);
      expect(archived.code).toBe(0);
      expect(archived.stdout).toMatch(/^Archived \d+ events \(1–\d+\) to .* and pruned them\.$/m);
      expect((await cli(['verify', '--archive', out], at)).stdout).toMatch(/^OK: archive of events 1–\d+/);
      const after = await cli(['verify'], at);
      expect(after.code).toBe(0);
      expect(
        (await cli(['search', '--json'], at)).stdout
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as Ecs).event.action),
      ).toEqual(['audit.archived']);
      fs.writeFileSync(out, fs.readFileSync(out, 'utf8').replace('"nobody', '"mallory'));
      const edited = await cli(['verify', '--archive', out], at);
      expect(edited.code).toBe(1);
      expect(edited.stderr).toMatch(/NOT intact/);
      expect((await cli(['archive', '--before', '2999-01-01', '--out', out], at)).stderr).toMatch(
        /exists; choose a new file/,
      );
    } finally {
      await copied.remove();
    }
  });
});
