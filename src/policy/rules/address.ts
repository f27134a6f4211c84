import net from 'node:net';
import { parseCidr } from '../../http/cidr.js';

/**
 * An IP address as numbers, parsed once per decision: comparing numbers is what makes a policy with many network
 * conditions cheap (net.BlockList costs about a microsecond per check). IPv4-mapped IPv6 addresses are IPv4.
 */
export type Address = { version: 4; value: number } | { version: 6; words: readonly number[] };

/** A CIDR range in the same form: the network and the mask, per 32-bit word for IPv6. */
export type Range =
  | { version: 4; network: number; mask: number }
  | { version: 6; network: readonly number[]; masks: readonly number[] };

/** A dotted quad net.isIP accepted, read digit by digit (splitting costs more than the rest of a decision). */
function parseIPv4(ip: string): number {
  let value = 0;
  let octet = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      value = value * 256 + octet;
      octet = 0;
    } else {
      octet = octet * 10 + (c - 48);
    }
  }
  return value * 256 + octet;
}

/** The eight 16-bit groups of an address net.isIP accepted as IPv6. */
function groupsOfIPv6(ip: string): number[] {
  let text = ip;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    tail.push(v4 >>> 16, v4 & 0xffff);
    text = text.endsWith('::', lastColon + 1) ? text.slice(0, lastColon + 1) : text.slice(0, lastColon);
  }
  const gap = text.indexOf('::');
  const head = (gap >= 0 ? text.slice(0, gap) : text).split(':').filter(Boolean);
  const rest =
    gap >= 0
      ? text
          .slice(gap + 2)
          .split(':')
          .filter(Boolean)
      : [];
  const zeros = new Array<number>(8 - head.length - rest.length - tail.length).fill(0);
  return [...head.map((g) => parseInt(g, 16)), ...zeros, ...rest.map((g) => parseInt(g, 16)), ...tail];
}

/** The address, or undefined when the text is not one (an empty or garbled client address). */
export function parseAddress(ip: string): Address | undefined {
  const zone = ip.indexOf('%');
  const text = zone >= 0 ? ip.slice(0, zone) : ip;
  const version = net.isIP(text);
  if (version === 4) return { version: 4, value: parseIPv4(text) };
  if (version !== 6) return undefined;
  const g = groupsOfIPv6(text);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff)
    return { version: 4, value: ((g[6]! << 16) | g[7]!) >>> 0 };
  return {
    version: 6,
    words: [0, 2, 4, 6].map((i) => ((g[i]! << 16) | g[i + 1]!) >>> 0),
  };
}

function maskOf(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** A range such as `10.0.0.0/8`, `2001:db8::/32` or a single address; throws on anything else. */
export function parseRange(text: string): Range {
  const parsed = parseCidr(text);
  const address = parsed && parseAddress(parsed.address);
  if (!parsed || !address) throw new Error(`not an IP range: ${text}`);
  if (address.version === 4) {
    // ::ffff:10.0.0.0/104 is 10.0.0.0/8
    const prefix = parsed.type === 'ipv6' ? Math.max(0, parsed.prefix - 96) : parsed.prefix;
    const mask = maskOf(prefix);
    return { version: 4, network: (address.value & mask) >>> 0, mask };
  }
  const masks = [0, 1, 2, 3].map((i) => maskOf(parsed.prefix - 32 * i));
  return { version: 6, network: address.words.map((w, i) => (w & masks[i]!) >>> 0), masks };
}

export function inRange(address: Address, range: Range): boolean {
  if (address.version === 4)
    return range.version === 4 && (address.value & range.mask) >>> 0 === range.network;
  if (range.version !== 6) return false;
  for (let i = 0; i < 4; i++) {
    if ((address.words[i]! & range.masks[i]!) >>> 0 !== range.network[i]) return false;
  }
  return true;
}
