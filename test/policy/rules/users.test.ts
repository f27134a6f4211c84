import { describe, expect, it } from 'vitest';
import { context, holds, whenTrace } from '../fixture.js';

describe('users condition', () => {
  it('matches usernames case-insensitively, or user ids', () => {
    expect(holds({ users: ['Alice', 'bob'] }, context())).toBe(true);
    expect(holds({ users: ['u-alice'] }, context())).toBe(true);
    expect(holds({ users: ['bob'] }, context())).toBe(false);
  });

  it('says why', () => {
    expect(whenTrace({ users: ['bob', 'carol'] }, context()).why).toBe('user alice is not one of bob, carol');
  });
});
