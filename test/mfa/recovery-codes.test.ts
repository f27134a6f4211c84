import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PasswordHasher } from '../../src/directory/password-hash.js';
import { UserRepository } from '../../src/directory/users.js';
import {
  formatRecoveryCode,
  normaliseRecoveryCode,
  RECOVERY_CODE_COUNT,
  RecoveryCodes,
} from '../../src/mfa/recovery.js';
import { openDurableStore, type Db } from '../../src/store/database.js';
import { tempDir } from '../helpers/poort.js';

describe('recovery codes', () => {
  let dir: string;
  let db: Db;
  let hasher: PasswordHasher;
  let codes: RecoveryCodes;
  let annaId: string;
  let bertId: string;

  beforeAll(async () => {
    dir = tempDir('poort-recovery-');
    db = await openDurableStore(dir);
    hasher = new PasswordHasher({ memory_kib: 8192, iterations: 1, parallelism: 1 });
    codes = new RecoveryCodes(db, hasher);
    const users = new UserRepository(db);
    annaId = (await users.create({ username: 'anna', email: 'anna@example.org' })).id;
    bertId = (await users.create({ username: 'bert', email: 'bert@example.org' })).id;
  });
  afterAll(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads codes as people type them: any case, spaces or dashes, and O, I, L as 0, 1, 1', () => {
    expect(normaliseRecoveryCode('7K3M9 Q2X4C HD8RW')).toBe('7k3m9q2x4chd8rw');
    expect(normaliseRecoveryCode('  7k3m9-q2x4c-hd8rw ')).toBe('7k3m9q2x4chd8rw');
    expect(normaliseRecoveryCode('o0iLl-q2x4c-hd8rw')).toBe('00111q2x4chd8rw');
    expect(formatRecoveryCode('7k3m9q2x4chd8rw')).toBe('7k3m9-q2x4c-hd8rw');
    for (const bad of ['', '7k3m9-q2x4c', '7k3m9-q2x4c-hd8rwx', '7k3m9-q2x4c-hd8ru', 'x'.repeat(100)])
      expect(normaliseRecoveryCode(bad)).toBeUndefined();
  });

  it('makes ten codes of 75 random bits (50 beyond the public first group), each group distinct', async () => {
    const prepared = await codes.prepare();
    expect(prepared.codes).toHaveLength(RECOVERY_CODE_COUNT);
    // 15 characters from a 32-letter alphabet: 5 bits each.
    for (const code of prepared.codes) expect(normaliseRecoveryCode(code)).toHaveLength(15);
    expect(new Set(prepared.codes.map((c) => c.slice(0, 5))).size).toBe(RECOVERY_CODE_COUNT);
    for (const row of prepared.rows) expect(row.hash).toMatch(/^\$argon2id\$/);
  });

  it('spends exactly one argon2 verification per attempt, whatever is typed', async () => {
    const [code] = await codes.generate(annaId);
    const verify = vi.spyOn(hasher, 'verify');
    const dummy = vi.spyOn(hasher, 'verifyDummy');
    try {
      for (const attempt of [
        code!,
        code!,
        `${code!.slice(0, 12)}zzz`,
        'zzzzz-zzzzz-zzzzz',
        'not a code at all',
        '',
      ]) {
        verify.mockClear();
        dummy.mockClear();
        await codes.use(annaId, attempt);
        // verifyDummy calls verify itself: one argon2 verification either way.
        expect(verify.mock.calls.length, attempt).toBe(1);
        expect(dummy.mock.calls.length, attempt).toBeLessThanOrEqual(1);
      }
    } finally {
      verify.mockRestore();
      dummy.mockRestore();
    }
  });

  it('lets one of two racing requests with the same code through, never both', async () => {
    const [code] = await codes.generate(bertId);
    const results = await Promise.all(Array.from({ length: 5 }, () => codes.use(bertId, code!)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === 'replayed')).toBe(true);
    expect(await codes.remaining(bertId)).toBe(RECOVERY_CODE_COUNT - 1);
  });

  it('keeps codes per user: the same first group may exist for two users', async () => {
    const [code] = await codes.generate(annaId);
    const prefix = code!.slice(0, 5);
    // Give bert a code with the same public group by hand: the row ids must not collide.
    const clash = `${prefix}-22222-22222`;
    await db.deleteFrom('recovery_codes').where('user_id', '=', bertId).execute();
    await db
      .insertInto('recovery_codes')
      .values({
        id: `${bertId}:${prefix}`,
        user_id: bertId,
        hash: await hasher.hash(normaliseRecoveryCode(clash)!),
        created_at: new Date().toISOString(),
        used_at: null,
      })
      .execute();
    expect((await codes.use(annaId, clash)).ok).toBe(false);
    expect((await codes.use(bertId, code!)).ok).toBe(false);
    expect(await codes.use(bertId, clash)).toEqual({ ok: true, remaining: 0 });
    expect((await codes.use(annaId, code!)).ok).toBe(true);
  });

  it('removes every code of a user', async () => {
    await codes.generate(annaId);
    expect(await codes.removeAll(annaId)).toBe(RECOVERY_CODE_COUNT);
    expect(await codes.remaining(annaId)).toBe(0);
  });
});
