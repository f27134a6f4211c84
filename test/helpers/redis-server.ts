import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort } from './poort.js';

/** A redis-server of the test's own on a free loopback port, which the test may stop and start again. */
export interface PrivateRedis {
  port: number;
  /** redis://127.0.0.1:<port> (or rediss:// with TLS) */
  url: string;
  /** starts it again on the same port after stop(), empty */
  start(): Promise<void>;
  /** ends it (SIGKILL: as abrupt as a crash) and waits until it is gone */
  stop(): Promise<void>;
}

function requireRedisServer(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0)
    throw new Error(
      'These tests start a redis-server of their own, but `redis-server` is not installed: ' +
        '`apt-get install -y redis-server` (Debian/Ubuntu) or put it on PATH.',
    );
}

/** Resolves once something accepts TCP connections on the port. */
async function listening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited: ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `args` are more redis-server options, e.g. ['--requirepass', 'x'] or TLS settings; with `tls` the port is the
 * TLS port and the plain port is off.
 */
export async function startPrivateRedis(
  options: { args?: string[]; tls?: { cert: string; key: string } } = {},
): Promise<PrivateRedis> {
  requireRedisServer();
  const port = await freePort();
  const portArgs = options.tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        options.tls.cert,
        '--tls-key-file',
        options.tls.key,
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)];
  let child: ChildProcess | undefined;
  const start = async () => {
    let output = '';
    const proc = spawn(
      'redis-server',
      [...portArgs, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(options.args ?? [])],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => (output = (output + s).slice(-2000)));
    proc.stderr!.setEncoding('utf8').on('data', (s: string) => (output = (output + s).slice(-2000)));
    child = proc;
    await listening(port, proc, () => output);
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  };
  await start();
  return { port, url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`, start, stop };
}
