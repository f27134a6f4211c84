import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonical, chainHash, GENESIS } from '../../src/audit/chain.js';
import type { AuditEventInput } from '../../src/audit/event.js';
import { PostgresAuditLog } from '../../src/audit/pg-log.js';
import { KeyStore } from '../../src/keys/keystore.js';
import type { Db } from '../../src/store/database.js';
import { openDurablePostgres } from '../../src/store/postgres.js';
import { tempDir } from '../helpers/poort.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

function event(i: number): AuditEventInput {
  return {
    action: i % 2 ? 'signin.password' : 'signin.completed',
    outcome: 'success',
    actor: { type: 'user' },
    subject: { username: `user${i}`, known: true },
    source: { ip: `192.0.2.${i}` },
  };
}

describe('audit trail on PostgreSQL', () => {
  let database: TestDatabase;
  let dir: string;
  let keys: KeyStore;
  let nodeA: Db;
  let nodeB: Db;
  let logA: PostgresAuditLog;
  let logB: PostgresAuditLog;

  beforeAll(async () => {
    database = await createTestDatabase();
    dir = tempDir();
    keys = new KeyStore(path.join(dir, 'keys'));
    await keys.ensure();
    // two nodes: two pools, migrating together
    [nodeA, nodeB] = await Promise.all([
      openDurablePostgres(database.url, { max: 3 }),
      openDurablePostgres(database.url, { max: 3 }),
    ]);
    logA = new PostgresAuditLog(nodeA, keys);
    logB = new PostgresAuditLog(nodeB, keys);
  });
  afterAll(async () => {
    await nodeA?.destroy();
    await nodeB?.destroy();
    await database?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps one linear chain with 20 concurrent writers on two nodes', async () => {
    const seen: number[] = [];
    const stop = logA.onAppend((e) => seen.push(e.seq));
    const callers = Array.from({ length: 20 }, async (_, i) => {
      const log = i % 2 ? logB : logA;
      const stored = [];
      // each caller appends a few times, yielding in between, so the batches of both nodes interleave
      for (let j = 0; j < 3; j++) {
        stored.push(await log.append(event(i * 3 + j + 1)));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      }
      return stored;
    });
    const stored = (await Promise.all(callers)).flat();
    stop();
    const seqs = stored.map((s) => s.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(seen.length).toBe(30);
    for (const s of stored) expect(typeof s.seq).toBe('number');
    expect(await logB.verify()).toEqual({
      ok: true,
      events: 60,
      firstSeq: 1,
      lastSeq: 60,
      checkpoints: 0,
      uncovered: 60,
    });
    const rows = await logA.readAfter(0, 1000);
    expect(rows.map((r) => r.seq)).toEqual(seqs);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prevHash).toBe(rows[i - 1]!.hash);
  });

  it('searches newest first', async () => {
    const found = await logA.query({ action: 'signin.pass*', limit: 5 });
    expect(found).toHaveLength(5);
    expect(found.every((e) => e.event.action === 'signin.password')).toBe(true);
    expect(found[0]!.seq).toBeGreaterThan(found[4]!.seq);
    const [one] = await logA.query({ user: 'user7' });
    expect(one?.event.subject?.username).toBe('user7');
    expect(await logA.query({ ip: '192.0.2.0/30', limit: 10 })).toHaveLength(3);
  });

  it('signs checkpoints and verifies them', async () => {
    const cp = await logA.checkpoint();
    expect(cp).toMatchObject({ seq: 60 });
    expect(await logB.checkpoint()).toBeUndefined();
    await logB.append(event(61));
    expect(await logA.verify()).toMatchObject({ ok: true, events: 61, checkpoints: 1, uncovered: 1 });
    await logA.setCursor('siem', 42);
    expect(await logB.cursor('siem')).toBe(42);
  });

  it("appends inside a caller's transaction: commits or rolls back with the change", async () => {
    await expect(
      nodeA.transaction().execute(async (trx) => {
        await logA.appendIn(trx, event(100));
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    const [stored] = await nodeA.transaction().execute((trx) => logA.appendIn(trx, event(101)));
    expect(stored?.seq).toBe(62);
    expect(await logB.verify()).toMatchObject({ ok: true, events: 62 });
  });

  it('detects tampering', async () => {
    const { rows } = await sql<{ event: string }>`SELECT event FROM audit_events WHERE seq = 7`.execute(
      nodeA,
    );
    const original = rows[0]!.event;
    await sql`UPDATE audit_events SET event = ${original.replace('"success"', '"failure"')} WHERE seq = 7`.execute(
      nodeA,
    );
    expect(await logA.verify()).toMatchObject({
      ok: false,
      problem: { seq: 7, problem: 'the event was changed after it was written' },
    });
    await sql`UPDATE audit_events SET event = ${original} WHERE seq = 7`.execute(nodeA);
    expect((await logA.verify()).ok).toBe(true);

    await sql`UPDATE audit_checkpoints SET hash = ${'0'.repeat(64)} WHERE seq = 60`.execute(nodeA);
    expect(await logA.verify()).toMatchObject({ ok: false, problem: { seq: 60 } });
  });

  it('fails closed when the store is gone', async () => {
    await nodeB.destroy();
    await expect(logB.append(event(99))).rejects.toThrow(/audit trail cannot store/);
  });
});

describe('the hash chain that PostgreSQL links', () => {
  it('hashes any text exactly as chain.ts does: non-ASCII, escapes and a NUL', async () => {
    const database = await createTestDatabase();
    const dir = tempDir();
    const db = await openDurablePostgres(database.url, { max: 2 });
    try {
      const keys = new KeyStore(path.join(dir, 'keys'));
      await keys.ensure();
      const log = new PostgresAuditLog(db, keys);
      const names = [
        'Zoë Ødegård-Çelik',
        'emoji 🙂 and 中文',
        'quote " backslash \\ newline \n tab \t',
        'nul \0 here',
      ];
      const stored = await Promise.all(
        names.map((username, i) =>
          log.append({ ...event(i + 1), subject: { username, known: false }, details: { note: username } }),
        ),
      );
      let prev = GENESIS;
      for (const s of [...stored].sort((a, b) => a.seq - b.seq)) {
        expect(s.prevHash).toBe(prev);
        expect(s.hash).toBe(chainHash(prev, s.seq, canonical(s.event)));
        prev = s.hash;
      }
      expect(await log.verify()).toMatchObject({ ok: true, events: names.length });
    } finally {
      await db.destroy();
      await database.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
