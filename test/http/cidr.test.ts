import { describe, expect, it } from 'vitest';
import { cidrMatcher, isValidCidr, parseCidr } from '../../src/http/cidr.js';

describe('CIDR ranges', () => {
  it('parses addresses and ranges of both families', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, type: 'ipv4' });
    expect(parseCidr('192.0.2.1')).toEqual({ address: '192.0.2.1', prefix: 32, type: 'ipv4' });
    expect(parseCidr('2001:db8::/32')).toEqual({ address: '2001:db8::', prefix: 32, type: 'ipv6' });
    expect(parseCidr(' ::1 ')).toEqual({ address: '::1', prefix: 128, type: 'ipv6' });
  });

  it('refuses what is not a range', () => {
    for (const bad of [
      '10.0.0.0/33',
      '2001:db8::/129',
      '10.0.0.0/',
      '10.0.0.0/8/8',
      '10.0.0.0/-1',
      '10.0.0.256',
      'proxy.example.org',
      '',
      '10.0.0.0/08x',
    ]) {
      expect(isValidCidr(bad), bad).toBe(false);
    }
  });

  it('matches addresses inside the ranges, IPv4-mapped IPv6 included', () => {
    const trusted = cidrMatcher(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
    expect(trusted('10.1.2.3')).toBe(true);
    expect(trusted('::ffff:10.1.2.3')).toBe(true);
    expect(trusted('192.0.2.7')).toBe(true);
    expect(trusted('192.0.2.8')).toBe(false);
    expect(trusted('2001:db8:1::1')).toBe(true);
    expect(trusted('2001:db9::1')).toBe(false);
    expect(trusted('')).toBe(false);
    expect(trusted('not an ip')).toBe(false);
  });

  it('trusts nobody when the list is empty', () => {
    const none = cidrMatcher([]);
    expect(none('127.0.0.1')).toBe(false);
    expect(none('::1')).toBe(false);
  });
});

describe('the client address behind trusted proxies', () => {
  it('is the nearest hop that is not a trusted proxy, never an address the client wrote itself', async () => {
    const { clientAddress } = await import('../../src/http/client-address.js');
    const { cidrMatcher } = await import('../../src/http/cidr.js');
    const trusted = cidrMatcher(['127.0.0.1/32', '10.0.0.0/8']);
    expect(clientAddress('127.0.0.1', '145.97.39.155', trusted)).toBe('145.97.39.155');
    expect(clientAddress('127.0.0.1', '6.6.6.6, 145.97.39.155', trusted)).toBe('145.97.39.155');
    expect(clientAddress('127.0.0.1', '6.6.6.6, 145.97.39.155, 10.1.2.3', trusted)).toBe('145.97.39.155');
    expect(clientAddress('127.0.0.1', '10.1.2.3', trusted)).toBe('10.1.2.3');
  });
});
