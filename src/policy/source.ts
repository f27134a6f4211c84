import { createRequire } from 'node:module';
import UAParser from 'ua-parser-js';

const require = createRequire(import.meta.url);

/** Where an attempt comes from and on what: part of every audit event and, later, of the policy context. */
export interface Source {
  ip: string;
  /** ISO 3166 alpha-2; null for private, loopback and unknown addresses */
  country: string | null;
  user_agent?: string;
  device: { type: 'mobile' | 'tablet' | 'desktop'; os?: string; browser?: string };
}

type GeoIp = { lookup(ip: string): { country?: string } | null };
let geoip: GeoIp | undefined;

/** geoip-lite keeps its database in memory (~145 MiB): load it once, on first use. */
function geo(): GeoIp {
  geoip ??= require('geoip-lite') as GeoIp;
  return geoip;
}

export function countryOf(ip: string): string | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const country = geo().lookup(mapped ? mapped[1]! : ip)?.country;
  return country ? country : null;
}

/** Device from the user agent, corrected by client hints where the browser sends them. */
export function deviceOf(
  userAgent: string | undefined,
  hints: { mobile?: string; platform?: string } = {},
): Source['device'] {
  const ua = new UAParser(userAgent ?? '').getResult();
  let type: Source['device']['type'] =
    ua.device.type === 'mobile' ? 'mobile' : ua.device.type === 'tablet' ? 'tablet' : 'desktop';
  if (hints.mobile === '?1' && type === 'desktop') type = 'mobile';
  const platform = hints.platform?.replace(/"/g, '').trim();
  return {
    type,
    ...(platform || ua.os.name ? { os: platform || ua.os.name } : {}),
    ...(ua.browser.name ? { browser: ua.browser.name } : {}),
  };
}

/** Loads the GeoLite2 data now (at start-up) instead of during the first sign-in. */
export function preloadGeo(): void {
  geo();
}

const CACHE_SIZE = 2000;
const cache = new Map<string, Source>();

/**
 * The source of a request. The same client sends the same address and user agent many times (token refreshes,
 * sign-ins behind one NAT): looking both up costs more than the rest of an audit event, so recent answers are kept.
 */
export function describeSource(ip: string, headers: Record<string, string | string[] | undefined>): Source {
  const header = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const userAgent = header('user-agent')?.slice(0, 512);
  const key = `${ip}\n${userAgent ?? ''}\n${header('sec-ch-ua-mobile') ?? ''}\n${header('sec-ch-ua-platform') ?? ''}`;
  const known = cache.get(key);
  if (known) return known;
  const source = lookUp(ip, userAgent, header);
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(key, source);
  return source;
}

function lookUp(
  ip: string,
  userAgent: string | undefined,
  header: (name: string) => string | undefined,
): Source {
  return {
    ip,
    country: ip ? countryOf(ip) : null,
    ...(userAgent ? { user_agent: userAgent } : {}),
    device: deviceOf(userAgent, {
      mobile: header('sec-ch-ua-mobile'),
      platform: header('sec-ch-ua-platform'),
    }),
  };
}
