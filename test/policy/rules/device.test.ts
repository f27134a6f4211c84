import { describe, expect, it } from 'vitest';
import { context, holds, whenTrace } from '../fixture.js';

describe('device condition', () => {
  it('matches the device type', () => {
    const mobile = { device: { type: ['mobile', 'tablet'] } };
    expect(holds(mobile, context({ device: { type: 'mobile' } }))).toBe(true);
    expect(holds(mobile, context({ device: { type: 'tablet' } }))).toBe(true);
    expect(holds(mobile, context({ device: { type: 'desktop' } }))).toBe(false);
  });

  it('matches the operating system however it is spelt', () => {
    const apple = { device: { os: ['macOS', 'iOS'] } };
    expect(holds(apple, context({ device: { os: 'Mac OS' } }))).toBe(true);
    expect(holds(apple, context({ device: { os: 'macOS' } }))).toBe(true);
    expect(holds(apple, context({ device: { os: 'iOS' } }))).toBe(true);
    expect(holds(apple, context({ device: { os: 'Windows' } }))).toBe(false);
    expect(holds(apple, context({ device: { os: undefined } }))).toBe(false);
  });

  it('matches managed (BYOD is managed: false) and known devices', () => {
    expect(holds({ device: { managed: true } }, context({ device: { managed: true } }))).toBe(true);
    expect(holds({ device: { managed: false } }, context({ device: { managed: true } }))).toBe(false);
    expect(holds({ device: { managed: false } }, context({ device: { managed: false } }))).toBe(true);
    expect(holds({ device: { known: true } }, context({ device: { known: true } }))).toBe(true);
    expect(holds({ device: { known: false } }, context({ device: { known: true } }))).toBe(false);
  });

  it('needs every key it gives', () => {
    const byodMobile = { device: { type: ['mobile', 'tablet'], managed: false } };
    expect(holds(byodMobile, context({ device: { type: 'mobile', managed: false } }))).toBe(true);
    expect(holds(byodMobile, context({ device: { type: 'mobile', managed: true } }))).toBe(false);
    expect(holds(byodMobile, context({ device: { type: 'desktop', managed: false } }))).toBe(false);
  });

  it('says why', () => {
    const byodMobile = { device: { type: ['mobile', 'tablet'], managed: false } };
    expect(whenTrace(byodMobile, context({ device: { type: 'mobile', managed: false } })).why).toBe(
      'device type mobile is one of mobile, tablet and device is not managed (BYOD)',
    );
    expect(whenTrace(byodMobile, context({ device: { type: 'mobile', managed: true } })).why).toBe(
      'device is managed',
    );
    expect(whenTrace(byodMobile, context({ device: { type: 'desktop' } })).why).toBe(
      'device type desktop is not one of mobile, tablet',
    );
  });
});
