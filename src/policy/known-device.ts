import crypto from 'node:crypto';
import { readCookie } from '../http/i18n.js';

export const KNOWN_DEVICE_COOKIE = 'poort_device';
/** The browsers an account signed in with before (notifications.new_sign_ins): the same form, another cookie. */
export const SEEN_BROWSER_COOKIE = 'poort_seen';

/** Users one browser is remembered for at most (a shared computer): the oldest drop out. */
const MAX_USERS = 5;

interface Entry {
  /** keyed hash of the user id: the cookie does not say whom it remembers */
  u: string;
  /** hash of the user agent: copied to another browser, the cookie does not count */
  h: string;
  /** expiry, epoch seconds */
  e: number;
}

export interface KnownDeviceOptions {
  enabled: boolean;
  /** how long a browser is remembered after a multi-factor sign-in */
  days: number;
  /** https issuer: the cookie is Secure */
  secure: boolean;
}

/**
 * "Remember this device": after a multi-factor sign-in where the user ticked it, the browser gets a signed cookie
 * naming (a keyed hash of) the user and its own user agent. Policies can then treat it as known (`device.known`).
 * The cookie proves only that this browser signed in before; it is no factor and never replaces one on its own.
 */
export class KnownDevices {
  private readonly key: Buffer;

  /**
   * `cookie`: the cookie's name; each name has a key of its own, so that one cookie's value never passes for the
   * other's (the "seen browsers" of new sign-in notices use the same form as SEEN_BROWSER_COOKIE).
   */
  constructor(
    secret: Buffer,
    private readonly options: KnownDeviceOptions,
    private readonly cookie = KNOWN_DEVICE_COOKIE,
  ) {
    const label = cookie === KNOWN_DEVICE_COOKIE ? 'poort known-device cookie' : `poort cookie ${cookie}`;
    this.key = Buffer.from(crypto.hkdfSync('sha256', secret, Buffer.alloc(0), label, 32));
  }

  get enabled(): boolean {
    return this.options.enabled;
  }

  /** How long a remembered browser stays known. */
  get days(): number {
    return this.options.days;
  }

  private mac(data: string): string {
    return crypto.createHmac('sha256', this.key).update(data).digest('base64url');
  }

  private userTag(userId: string): string {
    return this.mac(`user:${userId}`).slice(0, 22);
  }

  private agentTag(userAgent: string | undefined): string {
    return crypto
      .createHash('sha256')
      .update(userAgent ?? '')
      .digest('base64url')
      .slice(0, 22);
  }

  /** The cookie's unexpired entries; none when it is missing, altered or malformed. */
  private entries(cookieHeader: string | undefined, now: number): Entry[] {
    const value = readCookie(cookieHeader, this.cookie);
    if (!value) return [];
    const dot = value.indexOf('.');
    if (dot < 0) return [];
    const payload = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.mac(payload), 'base64url');
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return [];
    try {
      const parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
      if (!Array.isArray(parsed)) return [];
      return parsed.filter(
        (e): e is Entry =>
          typeof e === 'object' &&
          e !== null &&
          typeof (e as Entry).u === 'string' &&
          typeof (e as Entry).h === 'string' &&
          typeof (e as Entry).e === 'number' &&
          (e as Entry).e > now / 1000,
      );
    } catch {
      return [];
    }
  }

  /** Whether this browser is remembered for this user. */
  isKnown(cookieHeader: string | undefined, userId: string, userAgent: string | undefined, now = Date.now()) {
    if (!this.options.enabled) return false;
    const u = this.userTag(userId);
    const h = this.agentTag(userAgent);
    return this.entries(cookieHeader, now).some((e) => e.u === u && e.h === h);
  }

  /** The Set-Cookie header that remembers this browser for the user (keeping the others it remembers), if enabled. */
  remember(
    cookieHeader: string | undefined,
    userId: string,
    userAgent: string | undefined,
    now = Date.now(),
  ): string | undefined {
    if (!this.options.enabled) return undefined;
    const maxAge = Math.round(this.options.days * 86400);
    const u = this.userTag(userId);
    const entry: Entry = { u, h: this.agentTag(userAgent), e: Math.floor(now / 1000) + maxAge };
    const kept = this.entries(cookieHeader, now).filter((e) => e.u !== u);
    const payload = Buffer.from(JSON.stringify([...kept.slice(-(MAX_USERS - 1)), entry])).toString(
      'base64url',
    );
    return (
      `${this.cookie}=${payload}.${this.mac(payload)}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax` +
      (this.options.secure ? '; Secure' : '')
    );
  }
}
