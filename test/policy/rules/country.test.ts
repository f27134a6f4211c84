import { describe, expect, it } from 'vitest';
import { context, holds, whenTrace } from '../fixture.js';

describe('country condition', () => {
  it('in and not_in over ISO 3166 alpha-2 codes', () => {
    expect(holds({ country: { in: ['KP', 'IR'] } }, context({ country: 'IR' }))).toBe(true);
    expect(holds({ country: { in: ['KP', 'IR'] } }, context({ country: 'NL' }))).toBe(false);
    expect(holds({ country: { not_in: ['NL', 'BE'] } }, context({ country: 'US' }))).toBe(true);
    expect(holds({ country: { not_in: ['NL', 'BE'] } }, context({ country: 'BE' }))).toBe(false);
    expect(holds({ country: { in: ['nl'] } }, context({ country: 'NL' }))).toBe(true);
  });

  it('an address without a country matches neither list unless unknown is listed', () => {
    const unknown = context({ ip: '10.1.2.3', country: 'unknown' });
    expect(holds({ country: { in: ['KP', 'IR'] } }, unknown)).toBe(false);
    expect(holds({ country: { not_in: ['NL'] } }, unknown)).toBe(false);
    expect(holds({ country: { in: ['NL', 'unknown'] } }, unknown)).toBe(true);
    expect(holds({ country: { not_in: ['NL', 'unknown'] } }, unknown)).toBe(false);
    expect(holds({ country: { in: ['unknown'] } }, context({ country: 'NL' }))).toBe(false);
    expect(holds({ country: { not_in: ['unknown'] } }, context({ country: 'NL' }))).toBe(true);
  });

  it('says why', () => {
    expect(whenTrace({ country: { in: ['KP', 'IR'] } }, context({ country: 'NL' })).why).toBe(
      'country NL is not in KP, IR',
    );
    expect(whenTrace({ country: { in: ['KP', 'IR'] } }, context({ country: 'KP' })).why).toBe(
      'country KP is in KP, IR',
    );
    expect(whenTrace({ country: { not_in: ['NL'] } }, context({ country: 'unknown' })).why).toBe(
      'country is unknown, which no not_in list matches',
    );
  });
});
