import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';

/** Where Linux takes the local port of every outgoing connection (and of a listen on port 0) from. */
const EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';
const LOWEST = 10_000;
const TRIES = 50;

/**
 * The ports below the kernel's ephemeral range, from which `freePort` picks: [first, last]. Null when the range
 * cannot be read or leaves no room below it (then the kernel picks, as for a listen on port 0).
 */
export function portsBelowEphemeral(rangeText: string | null): { first: number; last: number } | null {
  const low = Number(rangeText?.trim().split(/\s+/)[0]);
  if (!Number.isInteger(low)) return null;
  const first = low - 1 > LOWEST ? LOWEST : 1024;
  return low - 1 > first ? { first, last: low - 1 } : null;
}

function readRange(): string | null {
  try {
    return fs.readFileSync(EPHEMERAL_RANGE_FILE, 'utf8');
  } catch {
    return null;
  }
}

/** Listens on (TCP) or binds to (UDP) `port` of loopback and closes again: the port it got, or null when taken. */
function tryPort(port: number, protocol: 'tcp' | 'udp'): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const taken = (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(null) : reject(err);
    if (protocol === 'udp') {
      const socket = dgram.createSocket('udp4');
      socket.once('error', taken);
      socket.bind(port, '127.0.0.1', () => {
        const got = socket.address().port;
        socket.close(() => resolve(got));
      });
      return;
    }
    const srv = net.createServer();
    srv.once('error', taken);
    srv.listen(port, '127.0.0.1', () => {
      const got = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(got));
    });
  });
}

/**
 * A free TCP (or UDP) port on loopback for a server that is told its port before it listens (its issuer holds it).
 *
 * Not one the kernel hands out: between this check and the server's listen, any outgoing connection on the machine
 * (a test's HTTP, Redis or PostgreSQL client) may get the very same port as its local end, and the server then
 * fails with EADDRINUSE — which is how CI once lost a test file. Ports below the ephemeral range are never given to
 * outgoing connections, so only another caller of this function picking the same one of ~20,000 ports at random in
 * the same moment could take it.
 */
export async function freePort(protocol: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  const range = portsBelowEphemeral(readRange());
  if (range) {
    for (let i = 0; i < TRIES; i++) {
      const port = range.first + Math.floor(Math.random() * (range.last - range.first + 1));
      const got = await tryPort(port, protocol);
      if (got !== null) return got;
    }
  }
  const got = await tryPort(0, protocol);
  if (got === null) throw new Error('no free port on 127.0.0.1');
  return got;
}
