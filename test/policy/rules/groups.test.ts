import { describe, expect, it } from 'vitest';
import { context, holds, whenTrace } from '../fixture.js';

describe('groups condition', () => {
  it('matches a member of any of the groups', () => {
    const admins = { groups: ['admins', 'finance'] };
    expect(holds(admins, context({ user: { groups: ['staff', 'finance'] } }))).toBe(true);
    expect(holds(admins, context({ user: { groups: ['staff'] } }))).toBe(false);
    expect(holds(admins, context({ user: { groups: [] } }))).toBe(false);
    expect(holds(admins, context({ user: { groups: ['Admins'] } }))).toBe(false);
  });

  it('says why', () => {
    expect(whenTrace({ groups: ['admins', 'finance'] }, context({ user: { groups: ['finance'] } })).why).toBe(
      'user alice is in group finance',
    );
    expect(whenTrace({ groups: ['admins', 'finance'] }, context()).why).toBe(
      'user alice is in none of admins, finance',
    );
  });
});
