import { describe, expect, it } from 'vitest';
import { distanceKm } from '../../../src/policy/rules/impossible-travel.js';
import { context, holds, MONDAY_NOON_AMSTERDAM, whenTrace } from '../fixture.js';

const ZOETERMEER = { lat: 52.0588, lon: 4.4948 };
const KANSAS = { lat: 37.751, lon: -97.822 };
const AMSTERDAM = { lat: 52.37, lon: 4.89 };
const MINUTE = 60_000;

/** A sign-in in the US `minutesAfter` a sign-in in the Netherlands. */
function fromNlToUs(minutesAfter: number) {
  return context({
    ip: '8.8.8.8',
    country: 'US',
    location: KANSAS,
    previous: { at: MONDAY_NOON_AMSTERDAM - minutesAfter * MINUTE, country: 'NL', location: ZOETERMEER },
  });
}

describe('impossible travel condition', () => {
  it('measures great-circle distances', () => {
    expect(distanceKm({ lat: 52.3676, lon: 4.9041 }, { lat: 40.7128, lon: -74.006 })).toBeCloseTo(5_860, -1);
    expect(distanceKm({ lat: 0, lon: 0 }, { lat: 0, lon: 180 })).toBeCloseTo(20_015, -1);
    expect(distanceKm(ZOETERMEER, ZOETERMEER)).toBe(0);
  });

  it('detects a journey faster than the maximum speed', () => {
    expect(holds({ impossible_travel: true }, fromNlToUs(10))).toBe(true);
    expect(holds({ impossible_travel: true }, fromNlToUs(0))).toBe(true);
    // about 7,600 km in 9 hours is 850 km/h: an airliner
    expect(holds({ impossible_travel: true }, fromNlToUs(9 * 60))).toBe(false);
    expect(holds({ impossible_travel: false }, fromNlToUs(9 * 60))).toBe(true);
  });

  it('takes the maximum speed from the policy', () => {
    const top = { impossible_travel: { max_speed_kmh: 500 } };
    expect(holds({ impossible_travel: true }, fromNlToUs(9 * 60), top)).toBe(true);
    expect(holds({ impossible_travel: true }, fromNlToUs(16 * 60), top)).toBe(false);
  });

  it('needs a location on both sides', () => {
    const journey = fromNlToUs(10);
    expect(holds({ impossible_travel: true }, { ...journey, location: undefined })).toBe(false);
    expect(holds({ impossible_travel: true }, { ...journey, previous: undefined })).toBe(false);
    expect(
      holds(
        { impossible_travel: true },
        { ...journey, previous: { at: journey.previous!.at, country: 'NL' } },
      ),
    ).toBe(false);
  });

  it('ignores distances within the accuracy of locating an address', () => {
    const nearby = context({
      location: AMSTERDAM,
      previous: { at: MONDAY_NOON_AMSTERDAM - MINUTE, country: 'NL', location: ZOETERMEER },
    });
    expect(holds({ impossible_travel: true }, nearby)).toBe(false);
    expect(holds({ impossible_travel: true }, nearby, { impossible_travel: { min_distance_km: 10 } })).toBe(
      true,
    );
  });

  it('says why', () => {
    expect(whenTrace({ impossible_travel: true }, fromNlToUs(10)).why).toMatch(
      /^travel from NL to US: 7\d{3} km in 10 min \(4\d{4} km\/h\), faster than 900 km\/h$/,
    );
    expect(whenTrace({ impossible_travel: true }, context()).why).toBe(
      'impossible travel not detected: no previous sign-in with a location',
    );
  });
});
