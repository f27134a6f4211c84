import { describe, expect, it } from 'vitest';
import { context, holds, whenTrace } from '../fixture.js';

const top = { networks: { office: ['192.0.2.0/24', '2001:db8:1::/48'], vpn: ['198.51.100.0/24'] } };

describe('network condition', () => {
  it('matches named networks and CIDR ranges, IPv4 and IPv6', () => {
    const inside = { network: { in: ['office', '203.0.113.0/25', '2001:db8:ff::/64'] } };
    for (const ip of [
      '192.0.2.10',
      '2001:db8:1:5::1',
      '203.0.113.100',
      '2001:db8:ff::abcd',
      '::ffff:192.0.2.99',
    ]) {
      expect(holds(inside, context({ ip }), top), ip).toBe(true);
    }
    for (const ip of ['192.0.3.1', '2001:db8:2::1', '203.0.113.200', '2001:db8:ff:1::1', '145.97.39.155']) {
      expect(holds(inside, context({ ip }), top), ip).toBe(false);
    }
  });

  it('not_in matches addresses outside every listed network', () => {
    const outside = { network: { not_in: ['office', 'vpn'] } };
    expect(holds(outside, context({ ip: '145.97.39.155' }), top)).toBe(true);
    expect(holds(outside, context({ ip: '2001:db8:3::1' }), top)).toBe(true);
    expect(holds(outside, context({ ip: '198.51.100.20' }), top)).toBe(false);
    expect(holds(outside, context({ ip: '2001:db8:1::1' }), top)).toBe(false);
  });

  it('treats an address it cannot read as in no network', () => {
    expect(holds({ network: { in: ['0.0.0.0/0', '::/0'] } }, context({ ip: '' }), top)).toBe(false);
    expect(holds({ network: { not_in: ['office'] } }, context({ ip: 'garbage' }), top)).toBe(true);
  });

  it('says why', () => {
    expect(
      whenTrace({ network: { not_in: ['office', 'vpn'] } }, context({ ip: '198.51.100.7' }), top).why,
    ).toBe('network 198.51.100.7 is in office, vpn');
    expect(
      whenTrace({ network: { not_in: ['office', 'vpn'] } }, context({ ip: '203.0.113.7' }), top).why,
    ).toBe('network 203.0.113.7 is not in office, vpn');
    expect(whenTrace({ network: { in: ['office'] } }, context({ ip: '2001:db8:1::1' }), top).why).toBe(
      'network 2001:db8:1::1 is in office',
    );
  });
});
