import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, portsBelowEphemeral } from '../../bench/free-port.js';

/** The first port of the kernel's range for outgoing connections. */
const ephemeralLow = () =>
  Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

const listen = (port: number) =>
  new Promise<net.Server>((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
const close = (srv: net.Server) => new Promise<void>((resolve) => srv.close(() => resolve()));

describe('freePort, the port a test server is told before it listens', () => {
  it('picks below the range the kernel gives outgoing connections, and the port can be listened on', async () => {
    const low = ephemeralLow();
    const ports = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      expect(port).toBeLessThan(low);
      expect(port).toBeGreaterThanOrEqual(1024);
      ports.add(port);
      await close(await listen(port));
    }
    // picked at random, so that two test files asking at once do not get the same one
    expect(ports.size).toBeGreaterThan(15);
  });

  it('does the same for a UDP port (a syslog receiver)', async () => {
    const low = ephemeralLow();
    const port = await freePort('udp');
    expect(port).toBeLessThan(low);
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  });

  it('reads the ephemeral range, and leaves the pick to the kernel where there is no room below it', () => {
    expect(portsBelowEphemeral('32768\t60999\n')).toEqual({ first: 10_000, last: 32_767 });
    expect(portsBelowEphemeral('8000 60999')).toEqual({ first: 1024, last: 7999 });
    expect(portsBelowEphemeral('1024 65535')).toBeNull();
    expect(portsBelowEphemeral('')).toBeNull();
    expect(portsBelowEphemeral(null)).toBeNull();
  });
});
