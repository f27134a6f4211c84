import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cidrMatcher } from '../../src/http/cidr.js';
import { buildContext, clientAddress, locationOf, type ContextSources } from '../../src/policy/context.js';
import { DeviceError, DeviceRegistry, normaliseFingerprint } from '../../src/policy/devices.js';
import { SignInHistory } from '../../src/policy/history.js';
import { KNOWN_DEVICE_COOKIE, KnownDevices } from '../../src/policy/known-device.js';
import type { Db } from '../../src/store/database.js';
import { UserRepository } from '../../src/directory/users.js';
import type { KeyValueStore } from '../../src/store/kv.js';
import { openTestDurableStore, openTestKeyValueStore } from '../helpers/backend.js';

const SECRET = Buffer.alloc(32, 7);
const DESKTOP =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';
const FINGERPRINT =
  'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
const HEX = FINGERPRINT.replace(/:/g, '').toLowerCase();
const trusted = cidrMatcher(['127.0.0.1/32', '::1/128']);

/** A cookie header carrying the value of a Set-Cookie header. */
function cookieOf(setCookie: string | undefined): string {
  return setCookie!.split(';')[0]!;
}

describe('the policy context', () => {
  let dir: string;
  let db: Db;
  let kv: KeyValueStore;
  let devices: DeviceRegistry;
  let history: SignInHistory;
  let known: KnownDevices;
  let sources: ContextSources;
  let ana: string;
  let bo: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'poort-context-'));
    db = await openTestDurableStore(dir);
    kv = await openTestKeyValueStore(dir);
    const users = new UserRepository(db);
    ana = (await users.create({ username: 'ana', email: 'ana@example.org', name: null, passwordHash: null }))
      .id;
    bo = (await users.create({ username: 'bo', email: 'bo@example.org', name: null, passwordHash: null })).id;
    devices = new DeviceRegistry(db);
    history = new SignInHistory(kv, async () => 600);
    known = new KnownDevices(SECRET, { enabled: true, days: 30, secure: false });
    sources = {
      devices,
      history,
      knownDevices: known,
      managedDeviceHeader: 'x-client-cert-sha256',
      trustedProxy: trusted,
    };
  });
  afterAll(async () => {
    await kv.close();
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const user = (id: string, username: string, groups: string[] = []) => ({ id, username, groups });
  const app = { id: 'wiki', protocol: 'oidc' as const };

  it('describes where an attempt comes from and on what: address, country, location, device', async () => {
    const now = Date.UTC(2026, 11, 4, 9, 0);
    const ctx = await buildContext(
      { ip: '145.97.39.155', peer: '127.0.0.1', headers: { 'user-agent': DESKTOP } },
      user(ana, 'ana', ['staff']),
      app,
      sources,
      now,
    );
    expect(ctx).toEqual({
      ip: '145.97.39.155',
      country: 'NL',
      location: { lat: expect.closeTo(52.06, 1), lon: expect.closeTo(4.49, 1) },
      device: { type: 'desktop', os: 'Windows', managed: false, known: false },
      application: app,
      user: { id: ana, username: 'ana', groups: ['staff'] },
      now,
      failures: [],
    });
  });

  it("gives private, loopback and documentation addresses the country 'unknown' and no location", async () => {
    for (const ip of ['192.0.2.10', '10.1.2.3', '127.0.0.1', '::1', '2001:db8::1']) {
      const ctx = await buildContext({ ip, peer: ip, headers: {} }, user(ana, 'ana'), app, sources);
      expect(ctx.country).toBe('unknown');
      expect(ctx.location).toBeUndefined();
    }
    expect(locationOf('::ffff:145.97.39.155')).toEqual(locationOf('145.97.39.155'));
  });

  it('reads the device type from the user agent, corrected by client hints', async () => {
    const phone = await buildContext(
      { ip: '192.0.2.10', peer: '127.0.0.1', headers: { 'user-agent': IPHONE } },
      user(ana, 'ana'),
      app,
      sources,
    );
    expect(phone.device).toMatchObject({ type: 'mobile', os: 'iOS' });
    const hinted = await buildContext(
      {
        ip: '192.0.2.10',
        peer: '127.0.0.1',
        headers: {
          'user-agent': 'Mozilla/5.0 (Linux)',
          'sec-ch-ua-mobile': '?1',
          'sec-ch-ua-platform': '"Android"',
        },
      },
      user(ana, 'ana'),
      app,
      sources,
    );
    expect(hinted.device).toMatchObject({ type: 'mobile', os: 'Android' });
  });

  describe('managed devices', () => {
    beforeAll(async () => {
      await devices.add({ name: 'Shared kiosk', certFingerprint: FINGERPRINT });
      await devices.add({ name: 'Ana laptop', certFingerprint: 'f'.repeat(64), ownerId: ana });
    });

    const attempt = (fingerprint: string, peer: string, who = user(ana, 'ana')) =>
      buildContext(
        { ip: '192.0.2.10', peer, headers: { 'x-client-cert-sha256': fingerprint } },
        who,
        app,
        sources,
      );

    it('believes the certificate header only from a trusted proxy', async () => {
      expect((await attempt(HEX, '127.0.0.1')).device.managed).toBe(true);
      expect((await attempt(HEX, '::1')).device.managed).toBe(true);
      expect((await attempt(HEX, '203.0.113.9')).device.managed).toBe(false);
    });

    it('accepts the fingerprint in either case, with or without colons; anything else is BYOD', async () => {
      expect((await attempt(FINGERPRINT.toLowerCase(), '127.0.0.1')).device.managed).toBe(true);
      expect((await attempt(HEX.toUpperCase(), '127.0.0.1')).device.managed).toBe(true);
      expect((await attempt('0'.repeat(64), '127.0.0.1')).device.managed).toBe(false);
      expect((await attempt('not a fingerprint', '127.0.0.1')).device.managed).toBe(false);
      expect((await attempt('', '127.0.0.1')).device.managed).toBe(false);
    });

    it('makes a device with an owner managed only for its owner', async () => {
      expect((await attempt('F'.repeat(64), '127.0.0.1')).device.managed).toBe(true);
      expect((await attempt('f'.repeat(64), '127.0.0.1', user(bo, 'bo'))).device.managed).toBe(false);
      expect((await attempt(HEX, '127.0.0.1', user(bo, 'bo'))).device.managed).toBe(true);
    });

    it('refuses duplicate names and certificates and malformed fingerprints', async () => {
      await expect(devices.add({ name: 'Shared kiosk', certFingerprint: 'e'.repeat(64) })).rejects.toThrow(
        'device Shared kiosk already exists',
      );
      await expect(devices.add({ name: 'Other', certFingerprint: HEX })).rejects.toThrow(
        'device Shared kiosk has this certificate already',
      );
      await expect(devices.add({ name: 'Other', certFingerprint: 'abc' })).rejects.toBeInstanceOf(
        DeviceError,
      );
      expect(normaliseFingerprint('ab:cd')).toBeUndefined();
      expect(normaliseFingerprint(`${HEX}:`)).toBeUndefined();
    });
  });

  describe('the remembered-device cookie', () => {
    it('is signed, HttpOnly, SameSite=Lax, for the configured days, and Secure on https', () => {
      const header = known.remember(undefined, ana, DESKTOP, Date.UTC(2026, 0, 1))!;
      expect(header).toMatch(
        new RegExp(
          `^${KNOWN_DEVICE_COOKIE}=[\\w-]+\\.[\\w-]+; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax$`,
        ),
      );
      const secure = new KnownDevices(SECRET, { enabled: true, days: 7, secure: true });
      expect(secure.remember(undefined, ana, DESKTOP)).toMatch(
        /Max-Age=604800; HttpOnly; SameSite=Lax; Secure$/,
      );
      expect(
        new KnownDevices(SECRET, { enabled: false, days: 7, secure: true }).remember(undefined, ana, DESKTOP),
      ).toBe(undefined);
    });

    it('makes the browser known for that user and that user agent only, until it expires', async () => {
      const cookie = cookieOf(known.remember(undefined, ana, DESKTOP));
      const ctx = (who: ReturnType<typeof user>, ua: string, now?: number) =>
        buildContext(
          { ip: '192.0.2.10', peer: '127.0.0.1', headers: { 'user-agent': ua, cookie } },
          who,
          app,
          sources,
          now,
        );
      expect((await ctx(user(ana, 'ana'), DESKTOP)).device.known).toBe(true);
      expect((await ctx(user(bo, 'bo'), DESKTOP)).device.known).toBe(false);
      expect((await ctx(user(ana, 'ana'), IPHONE)).device.known).toBe(false);
      expect((await ctx(user(ana, 'ana'), DESKTOP, Date.now() + 31 * 86400_000)).device.known).toBe(false);
      // The cookie does not say whom it remembers.
      expect(Buffer.from(cookie.split('=')[1]!.split('.')[0]!, 'base64url').toString()).not.toContain(ana);
    });

    it('remembers several users of one browser, and is worthless when altered or signed with another key', () => {
      const first = cookieOf(known.remember(undefined, ana, DESKTOP));
      const both = cookieOf(known.remember(first, bo, DESKTOP));
      expect(known.isKnown(both, ana, DESKTOP)).toBe(true);
      expect(known.isKnown(both, bo, DESKTOP)).toBe(true);
      const [name, value] = both.split('=') as [string, string];
      const [payload, mac] = value.split('.') as [string, string];
      const forged = Buffer.from(JSON.stringify([{ u: 'x', h: 'y', e: 9e9 }])).toString('base64url');
      expect(known.isKnown(`${name}=${forged}.${mac}`, ana, DESKTOP)).toBe(false);
      expect(known.isKnown(`${name}=${payload}.${mac.slice(1)}`, ana, DESKTOP)).toBe(false);
      expect(known.isKnown(`${name}=${payload}`, ana, DESKTOP)).toBe(false);
      const other = new KnownDevices(Buffer.alloc(32, 8), { enabled: true, days: 30, secure: false });
      expect(other.isKnown(both, ana, DESKTOP)).toBe(false);
    });
  });

  describe('history', () => {
    it('gives the previous successful sign-in and the recent failures of the user', async () => {
      const now = Date.now();
      await history.succeeded(bo, { at: now - 60_000, country: 'NL', location: { lat: 52.06, lon: 4.49 } });
      await history.failed(bo, now - 700_000); // outside the 10-minute window by the time the next one comes
      await history.failed(bo, now - 2000);
      await history.failed(bo, now - 1000);
      const ctx = await buildContext(
        { ip: '8.8.8.8', peer: '127.0.0.1', headers: {} },
        user(bo, 'bo'),
        app,
        sources,
        now,
      );
      expect(ctx.previous).toEqual({ at: now - 60_000, country: 'NL', location: { lat: 52.06, lon: 4.49 } });
      expect(ctx.failures).toEqual([now - 2000, now - 1000]);
      expect(ctx.country).toBe('US');
      expect(
        (
          await buildContext(
            { ip: '8.8.8.8', peer: '127.0.0.1', headers: {} },
            user(ana, 'ana'),
            app,
            sources,
          )
        ).previous,
      ).toBeUndefined();
    });
  });

  describe('the client address', () => {
    const request = (peer: string, forwarded?: string) =>
      ({
        socket: { remoteAddress: peer },
        headers: forwarded ? { 'x-forwarded-for': forwarded } : {},
      }) as unknown as IncomingMessage;

    it('is the peer, unless the peer is a trusted proxy: then the nearest address it was not told by a proxy', () => {
      expect(clientAddress(request('203.0.113.5', '145.97.39.155'), trusted)).toBe('203.0.113.5');
      expect(clientAddress(request('127.0.0.1', '145.97.39.155'), trusted)).toBe('145.97.39.155');
      // a client that writes its own X-Forwarded-For does not choose its address
      expect(clientAddress(request('127.0.0.1', '192.0.2.10, 145.97.39.155'), trusted)).toBe('145.97.39.155');
      expect(clientAddress(request('127.0.0.1', '145.97.39.155, 127.0.0.1'), trusted)).toBe('145.97.39.155');
      expect(clientAddress(request('127.0.0.1'), trusted)).toBe('127.0.0.1');
    });
  });
});
