import type { KeyValueStore } from '../../store/kv.js';
import { ipThrottleKey } from '../../signin/throttle.js';

export interface SendLimitSettings {
  perUser: number;
  perIp: number;
  /** seconds */
  window: number;
}

/**
 * A sliding window: the times (epoch ms) of the sends still inside it. Pure, so the store can apply it atomically;
 * `at` is the time recorded for this send, to take it back when another limit refuses.
 */
export function reserveSend(
  times: number[] | undefined,
  now: number,
  max: number,
  windowSeconds: number,
): { times: number[]; allowed: boolean; at: number } {
  const recent = (times ?? []).filter((t) => t > now - windowSeconds * 1000);
  if (recent.length >= max) return { times: recent, allowed: false, at: now };
  return { times: [...recent, now], allowed: true, at: now };
}

export function releaseSend(times: number[] | undefined, at: number): number[] | undefined {
  if (!times) return undefined;
  const i = times.indexOf(at);
  if (i < 0) return times;
  const rest = [...times.slice(0, i), ...times.slice(i + 1)];
  return rest.length > 0 ? rest : undefined;
}

/**
 * How many codes may be sent: per user (mail bombing someone, or running up an SMS bill through one account) and per
 * client IP (the same through many accounts). A send counts against both or neither.
 */
export class SendLimiter {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly settings: SendLimitSettings,
  ) {}

  private async reserve(key: string, max: number): Promise<{ allowed: boolean; at: number }> {
    return this.kv.update<number[], { allowed: boolean; at: number }>(key, (current, now) => {
      const next = reserveSend(current, now, max, this.settings.window);
      return { value: next.times, ttlSeconds: this.settings.window, result: next };
    });
  }

  async reserveFor(userId: string, ip: string): Promise<boolean> {
    const userKey = `otp:send:user:${userId}`;
    const byUser = await this.reserve(userKey, this.settings.perUser);
    if (!byUser.allowed) return false;
    const byIp = await this.reserve(`otp:send:ip:${ipThrottleKey(ip)}`, this.settings.perIp);
    if (byIp.allowed) return true;
    await this.kv.update<number[], void>(userKey, (current) => ({
      value: releaseSend(current, byUser.at),
      result: undefined,
    }));
    return false;
  }
}
