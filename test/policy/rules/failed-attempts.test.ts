import { describe, expect, it } from 'vitest';
import { context, holds, MONDAY_NOON_AMSTERDAM, whenTrace } from '../fixture.js';

const minutesAgo = (...minutes: number[]) =>
  context({ failures: minutes.sort((a, b) => b - a).map((m) => MONDAY_NOON_AMSTERDAM - m * 60_000) });

describe('failed attempts condition', () => {
  it('counts failures within the window', () => {
    const three = { failed_attempts: { at_least: 3, within: '15m' } };
    expect(holds(three, minutesAgo(1, 5, 14))).toBe(true);
    expect(holds(three, minutesAgo(1, 5, 16))).toBe(false);
    expect(holds(three, minutesAgo(1, 2, 3, 4))).toBe(true);
    expect(holds(three, minutesAgo())).toBe(false);
    expect(holds({ failed_attempts: { at_least: 3, within: '1h' } }, minutesAgo(1, 5, 50))).toBe(true);
  });

  it('takes the window from the policy when the condition names none', () => {
    expect(holds({ failed_attempts: { at_least: 2 } }, minutesAgo(1, 14))).toBe(true);
    expect(holds({ failed_attempts: { at_least: 2 } }, minutesAgo(1, 16))).toBe(false);
    expect(
      holds({ failed_attempts: { at_least: 2 } }, minutesAgo(1, 14), { failed_attempts: { within: '10m' } }),
    ).toBe(false);
  });

  it('does not count failures after the attempt', () => {
    const later = context({ failures: [MONDAY_NOON_AMSTERDAM - 60_000, MONDAY_NOON_AMSTERDAM + 60_000] });
    expect(holds({ failed_attempts: { at_least: 2 } }, later)).toBe(false);
  });

  it('says why', () => {
    expect(whenTrace({ failed_attempts: { at_least: 3 } }, minutesAgo(1)).why).toBe(
      '1 failed attempt within 15m, fewer than 3',
    );
    expect(whenTrace({ failed_attempts: { at_least: 2, within: '2h' } }, minutesAgo(1, 2, 3)).why).toBe(
      '3 failed attempts within 2h, at least 2',
    );
  });
});
