import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ThrottleRule } from '../../src/config/schema.js';
import { ipThrottleKey, reserveAttempt, Throttle, type AttemptState } from '../../src/signin/throttle.js';
import { tempDir } from '../helpers/poort.js';
import type { KeyValueStore } from '../../src/store/kv.js';
import { openTestKeyValueStore } from '../helpers/backend.js';

const rule: ThrottleRule = { free_attempts: 3, base_delay: 2, max_delay: 10, window: 3600 };
const T0 = 1_700_000_000_000;

describe('reserveAttempt', () => {
  it('lets the first attempt through and counts it in advance', () => {
    expect(reserveAttempt(undefined, T0, rule)).toEqual({
      state: { failures: 1, blockedUntil: 0 },
      reservation: { allowed: true },
    });
  });

  it('sets no delay before the attempt that reaches free_attempts; that one sets base_delay', () => {
    let state: AttemptState | undefined;
    for (let i = 1; i < rule.free_attempts; i++) {
      ({ state } = reserveAttempt(state, T0, rule));
      expect(state.blockedUntil).toBe(0);
    }
    ({ state } = reserveAttempt(state, T0, rule));
    expect(state).toEqual({ failures: 3, blockedUntil: T0 + 2000 });
  });

  it('doubles the delay with each further attempt, up to max_delay', () => {
    let state: AttemptState = { failures: 3, blockedUntil: 0 };
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { state: next, reservation } = reserveAttempt(state, T0, rule);
      expect(reservation.allowed).toBe(true);
      delays.push((next.blockedUntil - T0) / 1000);
      state = { ...next, blockedUntil: 0 };
    }
    expect(delays).toEqual([4, 8, 10, 10, 10]);
  });

  it('refuses while blocked, with the seconds left rounded up, and leaves the state as it was', () => {
    const blocked: AttemptState = { failures: 4, blockedUntil: T0 + 1500 };
    const frozen = Object.freeze({ ...blocked });
    expect(reserveAttempt(frozen, T0, rule)).toEqual({
      state: blocked,
      reservation: { allowed: false, retryAfterSeconds: 2 },
    });
    expect(reserveAttempt(frozen, T0 + 1499, rule).reservation).toEqual({
      allowed: false,
      retryAfterSeconds: 1,
    });
  });

  it('lets an attempt through the moment the delay is over', () => {
    const { reservation, state } = reserveAttempt({ failures: 3, blockedUntil: T0 }, T0, rule);
    expect(reservation.allowed).toBe(true);
    expect(state).toEqual({ failures: 4, blockedUntil: T0 + 4000 });
  });

  it('lets exactly free_attempts through when many arrive at the same instant', () => {
    let state: AttemptState | undefined;
    let allowed = 0;
    for (let i = 0; i < 20; i++) {
      const out = reserveAttempt(state, T0, rule);
      state = out.state;
      if (out.reservation.allowed) allowed++;
    }
    expect(allowed).toBe(rule.free_attempts);
  });
});

describe('ipThrottleKey', () => {
  it('keys IPv4 clients by address', () => {
    expect(ipThrottleKey('203.0.113.5')).toBe('203.0.113.5');
    expect(ipThrottleKey('203.0.113.6')).not.toBe(ipThrottleKey('203.0.113.5'));
  });

  it('keys IPv4-mapped IPv6 addresses as the IPv4 address', () => {
    expect(ipThrottleKey('::ffff:203.0.113.5')).toBe('203.0.113.5');
    expect(ipThrottleKey('::FFFF:203.0.113.5')).toBe('203.0.113.5');
  });

  it('keys IPv6 clients by their /64, however the address is written', () => {
    const key = '2001:db8:0:1::/64';
    expect(ipThrottleKey('2001:db8:0:1::1')).toBe(key);
    expect(ipThrottleKey('2001:0db8:0000:0001:0000:0000:0000:0001')).toBe(key);
    expect(ipThrottleKey('2001:DB8:0:1:ffff:ffff:ffff:ffff')).toBe(key);
    expect(ipThrottleKey('2001:db8:0:1:a:b:c:d')).toBe(key);
    expect(ipThrottleKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(ipThrottleKey('2001:db8:0:2::1')).not.toBe(key);
  });

  it('handles the short forms', () => {
    expect(ipThrottleKey('::1')).toBe('0:0:0:0::/64');
    expect(ipThrottleKey('::')).toBe('0:0:0:0::/64');
    expect(ipThrottleKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});

describe('Throttle on the key-value store', () => {
  let dir: string;
  let kv: KeyValueStore;
  let throttle: Throttle;

  beforeEach(async () => {
    dir = tempDir();
    kv = await openTestKeyValueStore(dir);
    throttle = new Throttle(kv, { account: rule, ip: { ...rule, free_attempts: 5 } });
  });
  afterEach(async () => {
    await kv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('blocks an account after free_attempts, from any IP', async () => {
    for (let i = 0; i < 3; i++)
      expect(await throttle.reserveFor('anna', `198.51.100.${i}`)).toEqual({ allowed: true });
    expect(await throttle.reserveFor('anna', '198.51.100.99')).toEqual({
      allowed: false,
      retryAfterSeconds: 2,
    });
    expect(await throttle.reserveFor('bob', '198.51.100.99')).toEqual({ allowed: true });
  });

  it('blocks an IP after its own free_attempts, for any account', async () => {
    for (let i = 0; i < 5; i++)
      expect(await throttle.reserveFor(`user${i}`, '203.0.113.9')).toEqual({ allowed: true });
    expect((await throttle.reserveFor('someone-else', '203.0.113.9')).allowed).toBe(false);
    expect((await throttle.reserveFor('someone-else', '203.0.113.10')).allowed).toBe(true);
  });

  it('does not charge the IP for attempts the account throttle refused', async () => {
    for (let i = 0; i < 3; i++) await throttle.reserveFor('anna', '203.0.113.9');
    for (let i = 0; i < 10; i++)
      expect((await throttle.reserveFor('anna', '203.0.113.9')).allowed).toBe(false);
    expect((await throttle.reserveFor('bob', '203.0.113.9')).allowed).toBe(true);
  });

  it('starts an account afresh after a success', async () => {
    for (let i = 0; i < 2; i++) await throttle.reserveFor('anna', '203.0.113.9');
    await throttle.succeeded('anna', '203.0.113.9');
    for (let i = 0; i < 3; i++) expect((await throttle.reserveFor('anna', '203.0.113.9')).allowed).toBe(true);
  });
});
