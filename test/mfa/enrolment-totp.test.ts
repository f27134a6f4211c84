import crypto from 'node:crypto';
import fs from 'node:fs';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/directory/identity.js';
import { UserRepository } from '../../src/directory/users.js';
import type { EnrolContext } from '../../src/mfa/factor.js';
import { FactorRepository } from '../../src/mfa/factors.js';
import { PendingEnrolments } from '../../src/mfa/pending-enrolment.js';
import { groupKey, TotpFactor } from '../../src/mfa/totp.js';
import type { Db } from '../../src/store/database.js';
import { tempDir } from '../helpers/poort.js';
import type { KeyValueStore } from '../../src/store/kv.js';
import { openTestDurableStore, openTestKeyValueStore } from '../helpers/backend.js';

describe('TOTP enrolment', () => {
  let dir: string;
  let db: Db;
  let kv: KeyValueStore;
  let factors: FactorRepository;
  let totp: TotpFactor;
  let ctx: EnrolContext;

  beforeAll(async () => {
    dir = tempDir('poort-enrol-totp-');
    db = await openTestDurableStore(dir);
    kv = await openTestKeyValueStore(dir);
    factors = new FactorRepository(db, crypto.randomBytes(32));
    totp = new TotpFactor(factors);
    const user = await new UserRepository(db).create({ username: 'anna', email: 'anna@example.org' });
    const identity: Identity = {
      id: user.id,
      username: 'anna',
      email: 'anna@example.org',
      name: null,
      groups: [],
    };
    ctx = {
      user: identity,
      binding: 'uid-1',
      action: '/signin/uid-1/enrol/totp',
      csrf: 'token',
      ip: '10.0.0.1',
      organisation: 'Gemeente Voorbeeld',
      origin: 'https://id.example.org',
    };
  });
  afterAll(async () => {
    await kv.close();
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows a new seed as a QR code and as a key in groups of four, keeping the seed as state', async () => {
    const { view, vars, state } = await totp.enrolment.begin(ctx, {});
    const { secret } = state as { secret: string };
    expect(view).toBe('enrol/totp');
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(vars.key).toBe(groupKey(secret));
    expect(vars.key).toMatch(/^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/);
    expect(vars.qr).toMatch(/^data:image\/svg\+xml;base64,/);
    expect(Buffer.from(String(vars.qr).split(',')[1]!, 'base64').toString()).toContain('<svg');
    expect(vars.uri).toBe(
      `otpauth://totp/Gemeente%20Voorbeeld:anna?secret=${secret}&issuer=Gemeente%20Voorbeeld`,
    );
  });

  it('stores the factor only for a code from the app, and that code then cannot sign in', async () => {
    const { state } = await totp.enrolment.begin(ctx, {});
    const { secret } = state as { secret: string };
    expect(await totp.enrolment.finish(ctx, state, { code: '000000' })).toEqual({
      ok: false,
      reason: 'invalid_code',
    });
    expect(await totp.enrolment.finish(ctx, undefined, { code: '123456' })).toEqual({
      ok: false,
      reason: 'expired',
    });
    expect(await factors.list(ctx.user.id)).toEqual([]);

    const step = Math.floor(Date.now() / 30_000);
    const code = await generate({ secret });
    const result = await totp.enrolment.finish(ctx, state, { code, name: ' Work phone ' });
    expect(result).toMatchObject({ ok: true, factor: { kind: 'totp', name: 'Work phone' } });
    const factor = (result as { factor: { id: string } }).factor;
    const stored = await factors.withSecret<string, { last_step?: number }>(factor.id);
    expect(stored!.secret).toBe(secret);
    expect(stored!.state.last_step).toBeGreaterThanOrEqual(step);
    expect(stored!.state.last_step).toBeLessThanOrEqual(step + 1);

    const check = await totp.verify(
      { binding: 'uid-2', user: ctx.user, factor: stored!.record, ip: '' },
      { code },
    );
    expect(check).toEqual({ ok: false, reason: 'replayed' });
  });

  it('keeps an enrolment in progress sealed and bound to its sign-in, and lets one request finish it', async () => {
    const pending = new PendingEnrolments(kv, crypto.randomBytes(32), 60);
    const started = await pending.begin(totp, { ...ctx, binding: 'uid-3' }, {});
    const { secret } = started!.state as { secret: string };
    const raw = JSON.stringify(await kv.get('enrol:pending:uid-3'));
    expect(raw).not.toContain(secret);
    expect(await pending.current('uid-4')).toBeUndefined();
    expect((await pending.current('uid-3'))!.vars.key).toBe(groupKey(secret));

    const other = { ...ctx, binding: 'uid-3' };
    expect(await pending.finish(totp, other, { code: '000000' })).toMatchObject({
      ok: false,
      reason: 'invalid_code',
      pending: { kind: 'totp' },
    });
    const code = await generate({ secret });
    const [first, second] = await Promise.all([
      pending.finish(totp, other, { code }),
      pending.finish(totp, other, { code }),
    ]);
    expect([first.ok, second.ok].sort()).toEqual([false, true]);
    expect(await pending.current('uid-3')).toBeUndefined();
  });
});
