import type { ThrottleRule } from '../config/schema.js';
import type { KeyValueStore } from '../store/kv.js';

/** The record kept per account or per client IP. */
export interface AttemptState {
  failures: number;
  /** epoch ms before which no attempt is let through */
  blockedUntil: number;
}

export type Reservation = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * Decides whether one more attempt may go ahead, counting it as a failure in advance. Pure: the store applies it
 * atomically, so parallel attempts each see the count the previous one left and no race lets extra guesses through.
 * The attempt that reaches `free_attempts` sets a delay of `base_delay`; each one after it doubles it, up to `max_delay`.
 */
export function reserveAttempt(
  state: AttemptState | undefined,
  now: number,
  rule: ThrottleRule,
): { state: AttemptState; reservation: Reservation } {
  const current = state ?? { failures: 0, blockedUntil: 0 };
  if (current.blockedUntil > now) {
    return {
      state: current,
      reservation: { allowed: false, retryAfterSeconds: Math.ceil((current.blockedUntil - now) / 1000) },
    };
  }
  const failures = current.failures + 1;
  const over = failures - rule.free_attempts;
  const delay = over >= 0 ? Math.min(rule.base_delay * 2 ** over, rule.max_delay) * 1000 : 0;
  return { state: { failures, blockedUntil: delay > 0 ? now + delay : 0 }, reservation: { allowed: true } };
}

/** IPv6 clients usually hold a whole /64: count them per /64, IPv4 per address. */
export function ipThrottleKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

export interface ThrottleRules {
  account: ThrottleRule;
  ip: ThrottleRule;
}

/**
 * Slows password (and later code) guessing per account — the name as typed, known or not — and per client IP.
 * Another `prefix` keeps counters of their own, for another kind of attempt (self-service reset requests).
 */
export class Throttle {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly rules: ThrottleRules,
    private readonly prefix = 'throttle',
  ) {}

  private async reserve(key: string, rule: ThrottleRule): Promise<Reservation> {
    return this.kv.update<AttemptState, Reservation>(key, (current, now) => {
      const { state, reservation } = reserveAttempt(current, now, rule);
      return {
        value: state,
        ttlSeconds: reservation.allowed ? Math.max(rule.window, rule.max_delay) : undefined,
        result: reservation,
      };
    });
  }

  /** Reserves an attempt for both the account and the IP; refused when either is blocked. */
  async reserveFor(account: string, ip: string): Promise<Reservation> {
    const byIp = await this.reserve(`${this.prefix}:ip:${ipThrottleKey(ip)}`, this.rules.ip);
    if (!byIp.allowed) return byIp;
    const byAccount = await this.reserve(`${this.prefix}:account:${account}`, this.rules.account);
    if (!byAccount.allowed) await this.refund(`${this.prefix}:ip:${ipThrottleKey(ip)}`);
    return byAccount;
  }

  /** After a success: the account starts afresh, and the IP gets back the attempt it was charged in advance. */
  async succeeded(account: string, ip: string): Promise<void> {
    await this.kv.delete(`${this.prefix}:account:${account}`);
    await this.refund(`${this.prefix}:ip:${ipThrottleKey(ip)}`);
  }

  /** The account's password was just reset by its owner: earlier failures no longer slow them down. */
  async accountReset(account: string): Promise<void> {
    await this.kv.delete(`${this.prefix}:account:${account}`);
  }

  /** The reserved attempt turned out not to be a guess (a request to send a new code): give it back to both. */
  async release(account: string, ip: string): Promise<void> {
    await this.refund(`${this.prefix}:account:${account}`);
    await this.refund(`${this.prefix}:ip:${ipThrottleKey(ip)}`);
  }

  private async refund(key: string): Promise<void> {
    await this.kv.update<AttemptState, void>(key, (current) => ({
      value: current ? { ...current, failures: Math.max(0, current.failures - 1) } : undefined,
      result: undefined,
    }));
  }
}
