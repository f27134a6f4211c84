import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { archiveAndPrune, verifyArchive } from '../../src/audit/archive.js';
import canonicalize from 'canonicalize';
import { canonical, chainHash } from '../../src/audit/chain.js';
import type { AuditEvent } from '../../src/audit/event.js';
import type { KyselyAuditLog } from '../../src/audit/kysely-log.js';
import { PostgresAuditLog } from '../../src/audit/pg-log.js';
import { SqliteAuditLog } from '../../src/audit/sqlite-log.js';
import { KeyStore } from '../../src/keys/keystore.js';
import { openDurableSqlite, type Db } from '../../src/store/database.js';
import { openDurablePostgres } from '../../src/store/postgres.js';
import { tempDir } from '../helpers/poort.js';
import { createTestDatabase } from '../helpers/postgres.js';

/** One durable store with its audit trail: the embedded SQLite file, or a PostgreSQL database of its own. */
interface Store {
  name: string;
  open(dir: string): Promise<{ db: Db; trail: (keys: KeyStore) => KyselyAuditLog; close(): Promise<void> }>;
}

const stores: Store[] = [
  {
    name: 'SQLite',
    async open(dir) {
      const { db, sqlite } = await openDurableSqlite(path.join(dir, 'data'));
      return { db, trail: (keys) => new SqliteAuditLog(db, sqlite, keys), close: () => db.destroy() };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      const database = await createTestDatabase();
      const db = await openDurablePostgres(database.url);
      return {
        db,
        trail: (keys) => new PostgresAuditLog(db, keys),
        async close() {
          await db.destroy();
          await database.drop();
        },
      };
    },
  },
];

describe.each(stores)('audit trail on $name: tamper evidence', (store) => {
  let dir: string;
  let opened: Awaited<ReturnType<Store['open']>>;
  let db: Db;
  let keys: KeyStore;
  let log: KyselyAuditLog;

  beforeAll(async () => {
    dir = tempDir();
    opened = await store.open(dir);
    db = opened.db;
  });
  afterAll(async () => {
    await opened?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    // a fresh trail and fresh keys for every test, in the same database
    await db.deleteFrom('audit_events').execute();
    await db.deleteFrom('audit_checkpoints').execute();
    await db.deleteFrom('audit_cursors').execute();
    const keysDir = path.join(dir, 'keys');
    fs.rmSync(keysDir, { recursive: true, force: true });
    keys = new KeyStore(keysDir);
    await keys.ensure();
    log = opened.trail(keys);
    for (let i = 1; i <= 20; i++) {
      await log.append({
        action: i % 2 ? 'signin.password' : 'signin.completed',
        outcome: 'success',
        actor: { type: 'user' },
        subject: { username: `user${i}`, known: true },
        source: { ip: `192.0.2.${i}` },
      });
      if (i === 10) await log.checkpoint();
      await new Promise((resolve) => setTimeout(resolve, 2)); // distinct times, for the archive cut-off
    }
    await log.checkpoint();
  });

  const row = (seq: number) =>
    db.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow();

  it('verifies an untouched trail', async () => {
    expect(await log.verify()).toEqual({
      ok: true,
      events: 20,
      firstSeq: 1,
      lastSeq: 20,
      checkpoints: 2,
      uncovered: 0,
    });
  });

  it('detects an edited event', async () => {
    const { event } = await row(7);
    await db
      .updateTable('audit_events')
      .set({ event: event.replace('"success"', '"failure"') })
      .where('seq', '=', 7)
      .execute();
    expect((await log.verify()).problem).toMatchObject({
      seq: 7,
      problem: 'the event was changed after it was written',
    });
  });

  it('detects an edited search column', async () => {
    await db.updateTable('audit_events').set({ subject_name: 'someone-else' }).where('seq', '=', 4).execute();
    expect((await log.verify()).problem).toMatchObject({
      seq: 4,
      problem: 'the search column subject_name was changed',
    });
  });

  it('detects a deleted event', async () => {
    await db.deleteFrom('audit_events').where('seq', '=', 12).execute();
    expect((await log.verify()).problem).toMatchObject({ seq: 12, problem: 'event 12 is missing' });
  });

  it('detects reordered events', async () => {
    const [a, b] = [await row(5), await row(6)];
    await db.deleteFrom('audit_events').where('seq', 'in', [5, 6]).execute();
    await db
      .insertInto('audit_events')
      .values([
        { ...b, seq: 5 },
        { ...a, seq: 6 },
      ])
      .execute();
    expect((await log.verify()).problem).toMatchObject({ seq: 5 });
  });

  it('detects a truncated trail', async () => {
    await db.deleteFrom('audit_events').where('seq', '>', 17).execute();
    expect((await log.verify()).problem).toMatchObject({
      seq: 18,
      problem: expect.stringContaining('truncated'),
    });
  });

  it('detects a rewritten chain through the signed checkpoints', async () => {
    // An attacker with database access edits event 3 and recomputes every hash after it: the chain is consistent
    // again, but the signed checkpoints no longer match, and the attacker cannot sign new ones.
    const rows = await db.selectFrom('audit_events').selectAll().orderBy('seq').execute();
    let prev = rows[1]!.hash;
    for (const row of rows.slice(2)) {
      const event = JSON.parse(row.event) as AuditEvent;
      if (row.seq === 3) event.outcome = 'failure';
      const text = canonical(event);
      const hash = chainHash(prev, row.seq, text);
      await db
        .updateTable('audit_events')
        .set({ event: text, prev_hash: prev, hash, outcome: event.outcome })
        .where('seq', '=', row.seq)
        .execute();
      prev = hash;
    }
    expect((await log.verify()).problem).toMatchObject({
      seq: 10,
      problem: 'the event does not match the signed checkpoint',
    });
  });

  it('detects a forged checkpoint', async () => {
    // a different first byte, whatever it was (a fixed 'ab' left one hash in 256 unchanged, and the test failing)
    await sql`UPDATE audit_checkpoints SET hash = CASE WHEN substr(hash, 1, 2) = 'ab' THEN 'cd' ELSE 'ab' END || substr(hash, 3) WHERE seq = 20`.execute(
      db,
    );
    expect((await log.verify()).problem).toMatchObject({
      seq: 20,
      problem: 'checkpoint at 20 does not match what was signed',
    });
  });

  it('still verifies checkpoints signed with a retired key', async () => {
    await keys.rotate();
    const old = keys.signingKeys().filter((k) => k.alg === 'ES256')[1]!;
    keys.retire(old.kid);
    expect((await log.verify()).ok).toBe(true);
  });

  it('keeps the chain linear when appends race', async () => {
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        log.append({ action: 'logout', outcome: 'success', actor: { type: 'user' }, details: { i } }),
      ),
    );
    const report = await log.verify();
    expect(report).toMatchObject({ ok: true, events: 70, uncovered: 50 });
  });

  describe('archive and retention', () => {
    const cutAfter = async (seq: number) => (await row(seq + 1)).time;

    it('exports old events as signed JSON lines, prunes them, and the chain still verifies across the cut', async () => {
      const out = path.join(dir, 'archive', 'first.jsonl');
      const summary = await archiveAndPrune(log, db, keys, { before: await cutAfter(8), out });
      expect(summary).toMatchObject({ first_seq: 1, last_seq: 8, count: 8 });
      expect(fs.statSync(out).mode & 0o777).toBe(0o600);
      expect(await verifyArchive(out, keys)).toMatchObject({ ok: true });
      expect(await log.verify()).toMatchObject({ ok: true, events: 12, firstSeq: 9, lastSeq: 20 });
      await log.append({ action: 'logout', outcome: 'success', actor: { type: 'user' } });
      expect(await log.verify()).toMatchObject({ ok: true, events: 13, lastSeq: 21 });

      const second = path.join(dir, 'archive', 'second.jsonl');
      await archiveAndPrune(log, db, keys, { before: '9999-01-01T00:00:00.000Z', out: second });
      expect(await verifyArchive(second, keys)).toMatchObject({
        ok: true,
        summary: { first_seq: 9, last_seq: 21 },
      });
      expect(await log.verify()).toMatchObject({ ok: true, events: 0 });
      const next = await log.append({ action: 'logout', outcome: 'success', actor: { type: 'user' } });
      expect(next.seq).toBe(22);
      expect(await log.verify()).toMatchObject({ ok: true, events: 1, firstSeq: 22 });
    });

    it('never prunes what a SIEM sink has not delivered yet', async () => {
      const summary = await archiveAndPrune(log, db, keys, {
        before: '9999-01-01T00:00:00.000Z',
        out: path.join(dir, 'a.jsonl'),
        upTo: 5,
      });
      expect(summary).toMatchObject({ last_seq: 5 });
      expect(await log.verify()).toMatchObject({ ok: true, firstSeq: 6 });
    });

    it('detects an edited archive', async () => {
      const out = path.join(dir, 'edited.jsonl');
      await archiveAndPrune(log, db, keys, { before: await cutAfter(5), out });
      fs.writeFileSync(out, fs.readFileSync(out, 'utf8').replace('user3', 'user9'));
      expect(await verifyArchive(out, keys)).toMatchObject({ ok: false, problem: 'event 3 was changed' });
    });
  });
});

describe('audit trail: canonical JSON', () => {
  const event = (extra: Record<string, unknown>) =>
    ({
      id: 'e1',
      time: '2026-12-04T10:00:00.000Z',
      action: 'signin.password',
      outcome: 'success',
      ...extra,
    }) as unknown as AuditEvent;

  it('writes exactly what the RFC 8785 library writes', () => {
    const cases: Array<Record<string, unknown>> = [
      {
        actor: { type: 'user', id: 'u1', name: 'Zoë' },
        subject: { username: 'zoë', known: true },
        source: { ip: '2001:db8::1', country: null, user_agent: 'Mozilla/5.0 "quoted" \\ \n\t\u0001' },
        policy: { rule: 'b,a', decision: 'mfa', max_age: 3600, report_only: ['x'], would: { x: 'deny' } },
        details: { amr: ['pwd', 'mfa'], scopes: [], nested: [[1, [2, { b: 1, a: [null] }]]] },
      },
      // keys that sort by UTF-16 code unit: upper before lower case, é after z, an emoji (surrogate pair) before U+FFFF
      { details: { b: 1, B: 2, a: 3, é: 4, z: 5, '😀': 6, '\uffff': 7, '': 8, ' x': 9, 'a-b': 10, a_b: 11 } },
      // numbers as ECMAScript writes them
      {
        details: {
          n: [0, -0, 1, -1, 0.1, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, 123456789012345680000],
        },
      },
      // array-index keys sort as strings, not as JavaScript orders them
      { details: { '10': 'a', '9': 'b', '1': 'c', x: 'd', '01': 'e', '4294967295': 'f' } },
      // undefined is left out of objects and written null in arrays; __proto__ is an ordinary key
      { details: { gone: undefined, list: [undefined, 1], ...JSON.parse('{"__proto__": {"x": 1}}') } },
      { details: { when: new Date(0), emoji: '😀 ok' } },
    ];
    for (const extra of cases) expect(canonical(event(extra))).toBe(canonicalize(event(extra)));
  });

  it('refuses what RFC 8785 has no form for, as the library does', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 'lone \ud800 surrogate', circular]) {
      expect(() => canonicalize(event({ details: { bad } }))).toThrow();
      expect(() => canonical(event({ details: { bad } }))).toThrow();
    }
    expect(() => canonical(event({ details: { ['lone \udc00 key']: 1 } }))).toThrow();
  });
});
