import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { argon2Concurrency, Slots } from '../../src/directory/hashing-slots.js';
import { PasswordHasher } from '../../src/directory/password-hash.js';

/** A task that runs until `finish()` is called. */
function gated() {
  let finish!: (fail?: boolean) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = (fail) => (fail ? reject(new Error('task failed')) : resolve());
  });
  return { done, finish };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('slots', () => {
  it('runs at most `size` tasks at once, the rest in the order they came, and a failed task frees its slot', async () => {
    const slots = new Slots(2);
    const tasks = Array.from({ length: 5 }, gated);
    const started: number[] = [];
    const results = tasks.map((t, i) =>
      slots.run(async () => {
        started.push(i);
        await t.done;
        return i;
      }),
    );
    await turn();
    expect(started).toEqual([0, 1]);
    expect(slots.queued).toBe(3);

    tasks[1]!.finish(true);
    await expect(results[1]).rejects.toThrow('task failed');
    await turn();
    expect(started).toEqual([0, 1, 2]);

    // a newcomer does not overtake those already waiting
    const late = slots.run(async () => {
      started.push(99);
      return 99;
    });
    tasks[0]!.finish();
    await turn();
    expect(started).toEqual([0, 1, 2, 3]);
    for (const t of tasks.slice(2)) t.finish();
    expect(await Promise.all([results[0], results[2], results[3], results[4], late])).toEqual([
      0, 2, 3, 4, 99,
    ]);
    expect(started).toEqual([0, 1, 2, 3, 4, 99]);
    expect(slots.queued).toBe(0);
  });

  it('refuses a size that is not a whole number of at least one', () => {
    for (const size of [0, -1, 1.5, Number.NaN]) expect(() => new Slots(size)).toThrow(RangeError);
  });
});

describe('argon2 concurrency', () => {
  it('is one per core, leaves a thread of libuv’s pool free, and is at least one', () => {
    expect(argon2Concurrency(2, 4)).toBe(2);
    expect(argon2Concurrency(8, 4)).toBe(3);
    expect(argon2Concurrency(8, 16)).toBe(8);
    expect(argon2Concurrency(1, 4)).toBe(1);
    expect(argon2Concurrency(4, 1)).toBe(1);
  });

  it('leaves libuv’s thread pool to other work while many verifies wait (the shipped parameters)', async () => {
    const hasher = new PasswordHasher({ memory_kib: 19456, iterations: 2, parallelism: 1 });
    const hash = await hasher.hash('correct horse battery staple');
    const finished: string[] = [];
    const verifies = Array.from({ length: 8 }, (_, i) =>
      hasher.verify(hash, 'correct horse battery staple').then((ok) => {
        expect(ok).toBe(true);
        finished.push(`verify ${i}`);
      }),
    );
    // pbkdf2 runs on the same pool as argon2: without the limit it would queue behind the eight verifies
    // and finish after at least four of them
    const other = new Promise<void>((resolve, reject) =>
      crypto.pbkdf2('x', 'salt', 1, 32, 'sha256', (err) => (err ? reject(err) : resolve())),
    ).then(() => finished.push('pbkdf2'));
    await Promise.all([...verifies, other]);
    expect(finished[0]).toBe('pbkdf2');
    expect(finished).toHaveLength(9);
  });
});
