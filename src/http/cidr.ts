import net from 'node:net';

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address into a BlockList-ready form. */
export function parseCidr(
  value: string,
): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } | undefined {
  const parts = value.trim().split('/');
  if (parts.length > 2) return undefined;
  const [address = '', prefixText] = parts;
  const version = net.isIP(address);
  if (version === 0) return undefined;
  const type = version === 4 ? 'ipv4' : 'ipv6';
  const max = version === 4 ? 32 : 128;
  if (prefixText === undefined) return { address, prefix: max, type };
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, type };
}

export function isValidCidr(value: string): boolean {
  return parseCidr(value) !== undefined;
}

/** A matcher over a list of CIDR ranges; IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match their IPv4 ranges. */
export function cidrMatcher(ranges: readonly string[]): (ip: string) => boolean {
  const list = new net.BlockList();
  for (const range of ranges) {
    const parsed = parseCidr(range);
    if (!parsed) throw new Error(`not an IP range: ${range}`);
    list.addSubnet(parsed.address, parsed.prefix, parsed.type);
  }
  // Node's BlockList builds an address object per check; clients and proxies repeat: remember recent answers.
  const answers = new Map<string, boolean>();
  return (ip: string) => {
    const known = answers.get(ip);
    if (known !== undefined) return known;
    const answer = check(ip);
    if (answers.size >= 4096) answers.clear();
    answers.set(ip, answer);
    return answer;
  };

  function check(ip: string): boolean {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    const address = mapped ? mapped[1]! : ip;
    const version = net.isIP(address);
    if (version === 0) return false;
    return list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }
}
