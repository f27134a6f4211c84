import { describe, expect, it } from 'vitest';
import { inRange, parseAddress, parseRange } from '../../../src/policy/rules/address.js';

const within = (ip: string, range: string) => {
  const address = parseAddress(ip);
  return address !== undefined && inRange(address, parseRange(range));
};

describe('addresses and ranges as numbers', () => {
  it('reads IPv4 and IPv6, and IPv4-mapped IPv6 as IPv4', () => {
    expect(parseAddress('192.0.2.1')).toEqual({ version: 4, value: 0xc0000201 });
    expect(parseAddress('::ffff:192.0.2.1')).toEqual({ version: 4, value: 0xc0000201 });
    expect(parseAddress('::FFFF:c000:0201')).toEqual({ version: 4, value: 0xc0000201 });
    expect(parseAddress('2001:db8::1')).toEqual({ version: 6, words: [0x20010db8, 0, 0, 1] });
    expect(parseAddress('::1')).toEqual({ version: 6, words: [0, 0, 0, 1] });
    expect(parseAddress('::')).toEqual({ version: 6, words: [0, 0, 0, 0] });
    expect(parseAddress('fe80::1%eth0')).toEqual({ version: 6, words: [0xfe800000, 0, 0, 1] });
    expect(parseAddress('64:ff9b::192.0.2.33')).toEqual({
      version: 6,
      words: [0x0064ff9b, 0, 0, 0xc0000221],
    });
    expect(parseAddress('1:2:3:4:5:6:7:8')).toEqual({
      version: 6,
      words: [0x10002, 0x30004, 0x50006, 0x70008],
    });
  });

  it('refuses what is not an address', () => {
    for (const bad of ['', 'localhost', '192.0.2.256', '2001:db8::g', '192.0.2.0/24']) {
      expect(parseAddress(bad), bad).toBeUndefined();
    }
  });

  it('matches the same addresses as the CIDR ranges say', () => {
    expect(within('10.255.1.2', '10.0.0.0/8')).toBe(true);
    expect(within('11.0.0.0', '10.0.0.0/8')).toBe(false);
    expect(within('192.0.2.7', '192.0.2.7')).toBe(true);
    expect(within('192.0.2.8', '192.0.2.7')).toBe(false);
    expect(within('203.0.113.9', '0.0.0.0/0')).toBe(true);
    expect(within('192.0.2.200', '192.0.2.130/25')).toBe(true); // host bits in the range are ignored
    expect(within('::ffff:10.1.2.3', '10.0.0.0/8')).toBe(true);
    expect(within('10.1.2.3', '::ffff:10.0.0.0/104')).toBe(true);
    expect(within('2001:db8:1:ffff::1', '2001:db8:1::/48')).toBe(true);
    expect(within('2001:db8:2::1', '2001:db8:1::/48')).toBe(false);
    expect(within('2001:db8:0:0:8000::', '2001:db8::/65')).toBe(false);
    expect(within('2001:db8:0:0:7fff::', '2001:db8::/65')).toBe(true);
    expect(within('2001:db8::1', '2001:db8::1')).toBe(true);
    expect(within('2001:db8::2', '2001:db8::1/128')).toBe(false);
    expect(within('::1', '::/0')).toBe(true);
    // the families do not mix
    expect(within('10.0.0.1', '::/0')).toBe(false);
    expect(within('2001:db8::1', '0.0.0.0/0')).toBe(false);
  });

  it('throws on a range that is not one', () => {
    expect(() => parseRange('10.0.0.0/33')).toThrow('not an IP range: 10.0.0.0/33');
  });
});
