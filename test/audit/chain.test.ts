import fs from 'node:fs';
import path from 'node:path';
import type SQLite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { archiveAndPrune, verifyArchive } from '../../src/audit/archive.js';
import canonicalize from 'canonicalize';
import { canonical, chainHash } from '../../src/audit/chain.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { SqliteAuditLog } from '../../src/audit/sqlite-log.js';
import { KeyStore } from '../../src/keys/keystore.js';
import { openDurableSqlite, type Db } from '../../src/store/database.js';
import { tempDir } from '../helpers/poort.js';

describe('audit trail: tamper evidence', () => {
  let dir: string;
  let db: Db;
  let sqlite: SQLite.Database;
  let keys: KeyStore;
  let log: SqliteAuditLog;

  beforeEach(async () => {
    dir = tempDir();
    keys = new KeyStore(path.join(dir, 'keys'));
    await keys.ensure();
    ({ db, sqlite } = await openDurableSqlite(path.join(dir, 'data')));
    log = new SqliteAuditLog(db, sqlite, keys);
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

  afterEach(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const exec = (statement: string, ...params: unknown[]) => sqlite.prepare(statement).run(...params);

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
    const row = sqlite.prepare('SELECT event FROM audit_events WHERE seq = 7').get() as { event: string };
    exec('UPDATE audit_events SET event = ? WHERE seq = 7', row.event.replace('"success"', '"failure"'));
    expect((await log.verify()).problem).toMatchObject({
      seq: 7,
      problem: 'the event was changed after it was written',
    });
  });

  it('detects an edited search column', async () => {
    exec("UPDATE audit_events SET subject_name = 'someone-else' WHERE seq = 4");
    expect((await log.verify()).problem).toMatchObject({
      seq: 4,
      problem: 'the search column subject_name was changed',
    });
  });

  it('detects a deleted event', async () => {
    exec('DELETE FROM audit_events WHERE seq = 12');
    expect((await log.verify()).problem).toMatchObject({ seq: 12, problem: 'event 12 is missing' });
  });

  it('detects reordered events', async () => {
    const a = sqlite.prepare('SELECT * FROM audit_events WHERE seq = 5').get() as Record<string, unknown>;
    const b = sqlite.prepare('SELECT * FROM audit_events WHERE seq = 6').get() as Record<string, unknown>;
    exec('DELETE FROM audit_events WHERE seq IN (5, 6)');
    const insert = sqlite.prepare(
      'INSERT INTO audit_events (seq, id, time, action, outcome, subject_id, subject_name, application, ip, event, prev_hash, hash) VALUES (@seq, @id, @time, @action, @outcome, @subject_id, @subject_name, @application, @ip, @event, @prev_hash, @hash)',
    );
    insert.run({ ...b, seq: 5 });
    insert.run({ ...a, seq: 6 });
    expect((await log.verify()).problem).toMatchObject({ seq: 5 });
  });

  it('detects a truncated trail', async () => {
    exec('DELETE FROM audit_events WHERE seq > 17');
    expect((await log.verify()).problem).toMatchObject({
      seq: 18,
      problem: expect.stringContaining('truncated'),
    });
  });

  it('detects a rewritten chain through the signed checkpoints', async () => {
    // An attacker with database access edits event 3 and recomputes every hash after it: the chain is consistent
    // again, but the signed checkpoints no longer match, and the attacker cannot sign new ones.
    const rows = sqlite.prepare('SELECT * FROM audit_events ORDER BY seq').all() as Array<{
      seq: number;
      event: string;
      prev_hash: string;
      hash: string;
    }>;
    let prev = rows[1]!.hash;
    for (const row of rows.slice(2)) {
      const event = JSON.parse(row.event) as AuditEvent;
      if (row.seq === 3) event.outcome = 'failure';
      const text = canonical(event);
      const hash = chainHash(prev, row.seq, text);
      exec(
        'UPDATE audit_events SET event = ?, prev_hash = ?, hash = ?, outcome = ? WHERE seq = ?',
        text,
        prev,
        hash,
        event.outcome,
        row.seq,
      );
      prev = hash;
    }
    expect((await log.verify()).problem).toMatchObject({
      seq: 10,
      problem: 'the event does not match the signed checkpoint',
    });
  });

  it('detects a forged checkpoint', async () => {
    exec("UPDATE audit_checkpoints SET hash = 'ab' || substr(hash, 3) WHERE seq = 20");
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
    const cutAfter = async (seq: number) => {
      const row = sqlite.prepare('SELECT time FROM audit_events WHERE seq = ?').get(seq + 1) as {
        time: string;
      };
      return row.time;
    };

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
