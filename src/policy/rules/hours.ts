import { z } from 'zod';
import { listed, type Condition } from './condition.js';
import { list, oneOf, strictObject } from './parts.js';

export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
type Day = (typeof DAYS)[number];

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** `08:00`; `24:00` only as the end of a window. */
function clock(latest: string) {
  const pattern = latest === '24:00' ? /^(([01]\d|2[0-3]):[0-5]\d|24:00)$/ : /^([01]\d|2[0-3]):[0-5]\d$/;
  const error = (issue: { input?: unknown }) =>
    `expected a time from 00:00 to ${latest} such as "08:00", got ${JSON.stringify(issue.input)}`;
  return z.string({ error }).regex(pattern, { error });
}

/**
 * `hours: { days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", time_zone: Europe/Amsterdam }`. A window
 * with `to` before `from` runs over midnight and belongs to the day it starts on (fri 22:00–06:00 includes Saturday
 * 03:00). Without from/to, the whole of each day.
 */
export const hoursSchema = strictObject({
  days: list(oneOf(DAYS)).optional(),
  from: clock('23:59').optional(),
  to: clock('24:00').optional(),
  time_zone: z.string().refine(isTimeZone, {
    error: (issue) =>
      `expected an IANA time zone such as Europe/Amsterdam or UTC, got ${JSON.stringify(issue.input)}`,
  }),
})
  .refine((h) => (h.from === undefined) === (h.to === undefined), {
    message: 'expected both from and to, or neither (the whole day)',
  })
  .refine((h) => h.from === undefined || h.from !== h.to, {
    message: 'from and to are the same time; leave both out for the whole day',
  });
export type HoursSpec = z.infer<typeof hoursSchema>;

function minutesOf(time: string): number {
  const [h = 0, m = 0] = time.split(':').map(Number);
  return h * 60 + m;
}

interface LocalTime {
  /** 0 = Monday */
  day: number;
  /** minutes since local midnight */
  minutes: number;
  text: string;
}

const WEEKDAYS: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/**
 * Local time in a zone. Formatting a date costs microseconds, so each zone remembers its last minute: attempts in
 * the same minute (the common case under load) reuse it. Offsets are whole minutes, so this is exact.
 */
class Zone {
  readonly #format: Intl.DateTimeFormat;
  #minute = Number.NaN;
  #local: LocalTime = { day: 0, minutes: 0, text: '' };

  constructor(readonly name: string) {
    this.#format = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
  }

  at(now: number): LocalTime {
    const minute = Math.floor(now / 60_000);
    if (minute !== this.#minute) {
      let weekday = 'Mon';
      let hour = 0;
      let min = 0;
      for (const part of this.#format.formatToParts(now)) {
        if (part.type === 'weekday') weekday = part.value;
        else if (part.type === 'hour') hour = Number(part.value) % 24;
        else if (part.type === 'minute') min = Number(part.value);
      }
      const text = `${weekday.toLowerCase()} ${String(hour).padStart(2, '0')}:${String(min).padStart(2, '0')}`;
      this.#local = { day: WEEKDAYS[weekday] ?? 0, minutes: hour * 60 + min, text };
      this.#minute = minute;
    }
    return this.#local;
  }
}

const zones = new Map<string, Zone>();

function zone(name: string): Zone {
  let z = zones.get(name);
  if (!z) zones.set(name, (z = new Zone(name)));
  return z;
}

export function compileHours(spec: HoursSpec): Condition {
  const tz = zone(spec.time_zone);
  const days = new Array<boolean>(7).fill(spec.days === undefined);
  for (const d of spec.days ?? []) days[DAYS.indexOf(d as Day)] = true;
  const from = spec.from === undefined ? 0 : minutesOf(spec.from);
  const to = spec.to === undefined ? 24 * 60 : minutesOf(spec.to);
  const window = `${spec.days ? listed(spec.days) : 'every day'}${spec.from ? ` ${spec.from}-${spec.to}` : ''} (${spec.time_zone})`;
  const holds: Condition['holds'] = (e) => {
    const { day, minutes } = tz.at(e.ctx.now);
    if (from < to) return days[day]! && minutes >= from && minutes < to;
    // over midnight: the evening of a listed day, or the early morning after one
    if (minutes >= from) return days[day]!;
    return minutes < to && days[(day + 6) % 7]!;
  };
  return {
    holds,
    explain: (e, held) => `local time ${tz.at(e.ctx.now).text} is ${held ? 'within' : 'outside'} ${window}`,
  };
}
