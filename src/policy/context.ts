import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { DeviceRegistry } from './devices.js';
import type { SignInHistory } from './history.js';
import type { KnownDevices } from './known-device.js';
import { describeSource } from './source.js';
import type { GeoPoint, PolicyContext } from './types.js';

const require = createRequire(import.meta.url);

/** What of an HTTP request the context is built from. */
export interface PolicyRequest {
  /** the client address: X-Forwarded-For believed only from trusted proxies (Express `req.ip`) */
  ip: string;
  /** the address of the connection's other end: a proxy's headers are believed only when it is trusted */
  peer: string;
  headers: IncomingHttpHeaders;
}

/** The look-ups behind a context. */
export interface ContextSources {
  devices: Pick<DeviceRegistry, 'isManagedFor'>;
  history: Pick<SignInHistory, 'previous' | 'failures'>;
  knownDevices: Pick<KnownDevices, 'isKnown'>;
  /** the header a TLS-terminating proxy puts the client certificate's SHA-256 fingerprint in (lower case) */
  managedDeviceHeader: string;
  /** whether an address is one of `server.trust_proxy` */
  trustedProxy: (ip: string) => boolean;
}

/**
 * The client address of a request as Express computes `req.ip` with a trust function: walking X-Forwarded-For from
 * the nearest hop, the first address that is not a trusted proxy. For requests that do not pass through Express
 * (oidc-provider's endpoints, whose own `ctx.ip` takes the leftmost entry, which the client may have written).
 */
export function clientAddress(req: IncomingMessage, trusted: (ip: string) => boolean): string {
  let address = req.socket.remoteAddress ?? '';
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  while (hops.length > 0 && trusted(address)) address = hops.pop()!;
  return address;
}

/** The PolicyRequest of a plain Node request (oidc-provider's `ctx.req`). */
export function policyRequestOf(req: IncomingMessage, trusted: (ip: string) => boolean): PolicyRequest {
  return { ip: clientAddress(req, trusted), peer: req.socket.remoteAddress ?? '', headers: req.headers };
}

type GeoIp = { lookup(ip: string): { ll?: [number, number] } | null };

/** Where an address is, from the same in-memory GeoLite2 data `countryOf` reads (one module instance per process). */
export function locationOf(ip: string): GeoPoint | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const ll = ip ? (require('geoip-lite') as GeoIp).lookup(mapped ? mapped[1]! : ip)?.ll : undefined;
  return ll && Number.isFinite(ll[0]) && Number.isFinite(ll[1]) ? { lat: ll[0], lon: ll[1] } : undefined;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Everything the policy engine needs to decide on one attempt: where it comes from, on what, by whom, for which
 * application, and what came before. All I/O of a decision happens here; `decide` itself is pure.
 */
export async function buildContext(
  request: PolicyRequest,
  user: { id: string; username: string; groups: string[] },
  application: PolicyContext['application'],
  sources: ContextSources,
  now = Date.now(),
): Promise<PolicyContext> {
  const source = describeSource(request.ip, request.headers);
  // Only a trusted proxy that terminated TLS can have seen the client certificate; from anyone else it is a claim.
  const fingerprint = sources.trustedProxy(request.peer)
    ? header(request.headers, sources.managedDeviceHeader)
    : undefined;
  const [managed, previous, failures] = await Promise.all([
    fingerprint ? sources.devices.isManagedFor(fingerprint, user.id) : false,
    sources.history.previous(user.id),
    sources.history.failures(user.id),
  ]);
  const location = locationOf(request.ip);
  return {
    ip: request.ip,
    country: source.country ?? 'unknown',
    ...(location ? { location } : {}),
    device: {
      type: source.device.type,
      ...(source.device.os ? { os: source.device.os } : {}),
      managed,
      known: sources.knownDevices.isKnown(request.headers.cookie, user.id, source.user_agent, now),
    },
    application,
    user: { id: user.id, username: user.username, groups: user.groups },
    now,
    ...(previous ? { previous } : {}),
    failures,
  };
}
