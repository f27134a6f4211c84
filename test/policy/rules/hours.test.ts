import { describe, expect, it } from 'vitest';
import { context, holds, whenTrace } from '../fixture.js';

const at = (iso: string) => context({ now: Date.parse(iso) });

describe('hours condition', () => {
  const officeHours = {
    hours: {
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      from: '08:00',
      to: '18:00',
      time_zone: 'Europe/Amsterdam',
    },
  };

  it('reads the clock in the time zone of the rule', () => {
    // Monday 15 June 2026, summer time (UTC+2)
    expect(holds(officeHours, at('2026-06-15T06:00:00Z'))).toBe(true); // 08:00 in Amsterdam
    expect(holds(officeHours, at('2026-06-15T05:59:00Z'))).toBe(false); // 07:59
    expect(holds(officeHours, at('2026-06-15T15:59:00Z'))).toBe(true); // 17:59
    expect(holds(officeHours, at('2026-06-15T16:00:00Z'))).toBe(false); // 18:00: the end is not in the window
    const newYork = { hours: { ...officeHours.hours, time_zone: 'America/New_York' } };
    expect(holds(newYork, at('2026-06-15T10:00:00Z'))).toBe(false); // 06:00 in New York
    expect(holds(newYork, at('2026-06-15T14:00:00Z'))).toBe(true); // 10:00
  });

  it('takes the day in the time zone too', () => {
    expect(holds(officeHours, at('2026-06-20T10:00:00Z'))).toBe(false); // Saturday
    // Monday 00:30 in Tokyo is still Sunday in UTC
    const tokyo = { hours: { days: ['mon'], time_zone: 'Asia/Tokyo' } };
    expect(holds(tokyo, at('2026-06-14T15:30:00Z'))).toBe(true);
    expect(holds(tokyo, at('2026-06-14T14:30:00Z'))).toBe(false);
  });

  it('follows daylight saving time', () => {
    const morning = { hours: { from: '08:00', to: '09:00', time_zone: 'Europe/Amsterdam' } };
    // Saturday 28 March 2026: winter time, UTC+1; Sunday 29 March: summer time, UTC+2
    expect(holds(morning, at('2026-03-28T07:30:00Z'))).toBe(true);
    expect(holds(morning, at('2026-03-29T07:30:00Z'))).toBe(false); // 09:30 in summer time
    expect(holds(morning, at('2026-03-29T06:30:00Z'))).toBe(true);
    // the night the clocks go back (25 October 2026), 02:30 happens twice
    const night = { hours: { from: '02:00', to: '03:00', time_zone: 'Europe/Amsterdam' } };
    expect(holds(night, at('2026-10-25T00:30:00Z'))).toBe(true);
    expect(holds(night, at('2026-10-25T01:30:00Z'))).toBe(true);
    expect(holds(night, at('2026-10-25T02:30:00Z'))).toBe(false);
  });

  it('runs a window over midnight, as part of the day it starts on', () => {
    const fridayNight = { hours: { days: ['fri'], from: '22:00', to: '06:00', time_zone: 'UTC' } };
    expect(holds(fridayNight, at('2026-06-19T23:00:00Z'))).toBe(true); // Friday 23:00
    expect(holds(fridayNight, at('2026-06-20T03:00:00Z'))).toBe(true); // Saturday 03:00, Friday's night
    expect(holds(fridayNight, at('2026-06-20T06:00:00Z'))).toBe(false); // Saturday 06:00
    expect(holds(fridayNight, at('2026-06-20T23:00:00Z'))).toBe(false); // Saturday 23:00
    expect(holds(fridayNight, at('2026-06-19T03:00:00Z'))).toBe(false); // Friday 03:00, Thursday's night
    expect(holds(fridayNight, at('2026-06-19T12:00:00Z'))).toBe(false);
    const everyNight = { hours: { from: '22:00', to: '06:00', time_zone: 'Europe/Amsterdam' } };
    expect(holds(everyNight, at('2026-06-15T21:30:00Z'))).toBe(true); // 23:30
    expect(holds(everyNight, at('2026-06-15T02:00:00Z'))).toBe(true); // 04:00
    expect(holds(everyNight, at('2026-06-15T10:00:00Z'))).toBe(false);
  });

  it('takes whole days without from and to, and 24:00 as the end of the day', () => {
    const weekend = { hours: { days: ['sat', 'sun'], time_zone: 'Europe/Amsterdam' } };
    expect(holds(weekend, at('2026-06-19T22:30:00Z'))).toBe(true); // Saturday 00:30 in Amsterdam
    expect(holds(weekend, at('2026-06-21T21:59:00Z'))).toBe(true); // Sunday 23:59
    expect(holds(weekend, at('2026-06-21T22:00:00Z'))).toBe(false); // Monday 00:00
    const evening = { hours: { from: '18:00', to: '24:00', time_zone: 'UTC' } };
    expect(holds(evening, at('2026-06-15T23:59:00Z'))).toBe(true);
    expect(holds(evening, at('2026-06-16T00:00:00Z'))).toBe(false);
  });

  it('gives the same answer for attempts in the same minute in different zones', () => {
    const amsterdam = { hours: { from: '12:00', to: '13:00', time_zone: 'Europe/Amsterdam' } };
    const london = { hours: { from: '12:00', to: '13:00', time_zone: 'Europe/London' } };
    expect(holds(amsterdam, at('2026-06-15T10:00:10Z'))).toBe(true);
    expect(holds(london, at('2026-06-15T10:00:20Z'))).toBe(false);
    expect(holds(amsterdam, at('2026-06-15T10:00:30Z'))).toBe(true);
    expect(holds(london, at('2026-06-15T11:00:30Z'))).toBe(true);
  });

  it('says why', () => {
    expect(whenTrace(officeHours, at('2026-06-20T10:00:00Z')).why).toBe(
      'local time sat 12:00 is outside mon, tue, wed, thu, fri 08:00-18:00 (Europe/Amsterdam)',
    );
    expect(whenTrace(officeHours, at('2026-06-15T10:00:00Z')).why).toBe(
      'local time mon 12:00 is within mon, tue, wed, thu, fri 08:00-18:00 (Europe/Amsterdam)',
    );
  });
});
