import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetLinkMessage } from '../../src/account/password-reset-message.js';
import { PasswordResets } from '../../src/account/password-reset.js';
import { PasswordHasher } from '../../src/directory/password-hash.js';
import type { KeyValueStore } from '../../src/store/kv.js';
import { openTestKeyValueStore } from '../helpers/backend.js';
import { tempDir } from '../helpers/poort.js';

describe('password reset links', () => {
  let dir: string;
  let kv: KeyValueStore;
  let resets: PasswordResets;

  beforeAll(async () => {
    dir = tempDir();
    kv = await openTestKeyValueStore(dir);
    resets = new PasswordResets(kv, new PasswordHasher({ memory_kib: 8192, iterations: 1, parallelism: 1 }));
  });
  afterAll(async () => {
    await kv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('opens for its user, works once, and keeps only an argon2id hash of its secret', async () => {
    const issued = await resets.issue('u-1', 3600);
    expect(issued.token).toMatch(/^[\w-]{22}\.[\w-]{43}$/);
    expect(Date.parse(issued.expiresAt) - Date.now()).toBeGreaterThan(3590_000);
    expect(issued.withdrew).toBe(false);
    const [id, secret] = issued.token.split('.') as [string, string];
    const stored = await kv.get<{ hash: string }>(`password-reset:link:${id}`);
    expect(stored!.hash).toMatch(/^\$argon2id\$/);
    expect(JSON.stringify(stored)).not.toContain(secret);

    expect(await resets.check(issued.token)).toEqual({ userId: 'u-1', origin: 'helpdesk' });
    expect(await resets.consume(issued.token, 'u-2')).toBe(false); // another user's: untouched
    expect(await resets.consume(issued.token, 'u-1')).toBe(true);
    expect(await resets.check(issued.token)).toBeUndefined();
    expect(await resets.consume(issued.token, 'u-1')).toBe(false);
  });

  it('lets only one of two racing requests use a link', async () => {
    const { token } = await resets.issue('u-race', 3600);
    const results = await Promise.all(Array.from({ length: 8 }, () => resets.consume(token, 'u-race')));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('refuses a wrong secret, a malformed token and an unknown id', async () => {
    const { token } = await resets.issue('u-3', 3600);
    const [id] = token.split('.') as [string];
    expect(await resets.check(`${id}.${'A'.repeat(43)}`)).toBeUndefined();
    expect(await resets.check(`${'B'.repeat(22)}.${token.split('.')[1]}`)).toBeUndefined();
    for (const bad of ['', 'x', `${token}x`, `${id}`, `${token}.${id}`, '../../etc/passwd'])
      expect(await resets.check(bad)).toBeUndefined();
    expect(await resets.check(token)).toEqual({ userId: 'u-3', origin: 'helpdesk' });
  });

  it('withdraws the earlier link of a user when it issues a new one', async () => {
    const first = await resets.issue('u-4', 3600);
    const second = await resets.issue('u-4', 3600);
    expect(second.withdrew).toBe(true);
    expect(await resets.check(first.token)).toBeUndefined();
    expect(await resets.check(second.token)).toEqual({ userId: 'u-4', origin: 'helpdesk' });
    // using the newer one leaves nothing behind to withdraw
    expect(await resets.consume(second.token, 'u-4')).toBe(true);
    expect((await resets.issue('u-4', 3600)).withdrew).toBe(false);
  });

  it('remembers who asked for it: the helpdesk, or the user on the sign-in page', async () => {
    const own = await resets.issue('u-8', 3600, 'self');
    expect(await resets.check(own.token)).toEqual({ userId: 'u-8', origin: 'self' });
    // a link kept from before links said who asked came from the helpdesk
    const [id] = own.token.split('.') as [string];
    const stored = (await kv.get<Record<string, unknown>>(`password-reset:link:${id}`))!;
    await kv.set(
      `password-reset:link:${id}`,
      { userId: stored.userId, hash: stored.hash, expiresAt: stored.expiresAt },
      3600,
    );
    expect(await resets.check(own.token)).toEqual({ userId: 'u-8', origin: 'helpdesk' });
  });

  it('stops working when it expires, or when withdrawn', async () => {
    const brief = await resets.issue('u-5', 1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await resets.check(brief.token)).toBeUndefined();
    const withdrawn = await resets.issue('u-6', 3600);
    await resets.withdraw(withdrawn.token);
    expect(await resets.check(withdrawn.token)).toBeUndefined();
    await expect(resets.issue('u-7', 0)).rejects.toThrow(/positive/);
  });

  it('is e-mailed in the organisation language, with the link, its end and what to do if unasked', () => {
    const args = [
      { username: 'alice', name: 'Alice de Vries' },
      'https://id.example.org/x',
      '2026-12-06T10:30:00.000Z',
    ] as const;
    const en = resetLinkMessage({ language: 'en', organisation: 'Gemeente Voorbeeld' }, ...args);
    expect(en.subject).toBe('Choose a new password for Gemeente Voorbeeld');
    expect(en.text).toContain('Hello Alice de Vries');
    expect(en.text).toContain('https://id.example.org/x');
    expect(en.text).toContain('until 2026-12-06 10:30 (UTC)');
    expect(en.text).toContain('tell the helpdesk');
    const nl = resetLinkMessage({ language: 'nl', organisation: 'Gemeente Voorbeeld' }, ...args);
    expect(nl.subject).toBe('Kies een nieuw wachtwoord voor Gemeente Voorbeeld');
    expect(nl.text).toContain('tot 2026-12-06 10:30 (UTC)');
  });
});
