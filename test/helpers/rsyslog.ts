import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../bench/free-port.js';

export const RSYSLOGD = '/usr/sbin/rsyslogd';
const PROBE = 'poort-rsyslog-probe';

export type RsyslogInput = 'udp' | 'tcp';

/** A real rsyslogd on loopback, writing every raw message it receives (`%rawmsg%`) as one line per input. */
export interface Rsyslog {
  dir: string;
  udpPort: number;
  tcpPort: number;
  /** Raw messages received on the input so far, in arrival order, the readiness probes left out. */
  messages(input: RsyslogInput): string[];
  /** Waits until at least `count` messages arrived on the input; returns them all. */
  waitForMessages(input: RsyslogInput, count: number, timeoutMs?: number): Promise<string[]>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function probeMessage(n: number): string {
  return `<14>1 ${new Date().toISOString()} localhost probe - - - ${PROBE} ${n}`;
}

function readLines(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n');
  lines.pop(); // the part after the last newline: empty, or a line still being written
  return lines;
}

/**
 * Starts rsyslogd in the foreground (`-n -f <conf> -i <pidfile>`) with imudp and imtcp (octet-counted framing is
 * on by default) on free loopback ports and a temporary work directory, and resolves once a probe sent over each
 * input has landed in its output file. Throws when rsyslogd is not installed.
 */
export async function startRsyslog(): Promise<Rsyslog> {
  if (!fs.existsSync(RSYSLOGD)) {
    throw new Error(`${RSYSLOGD} is missing: apt-get install rsyslog`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'poort-rsyslog-'));
  const udpPort = await freePort('udp');
  const tcpPort = await freePort('tcp');
  const out = (input: RsyslogInput) => path.join(dir, `${input}.log`);
  const conf = path.join(dir, 'rsyslog.conf');
  const pidFile = path.join(dir, 'rsyslogd.pid');
  fs.writeFileSync(
    conf,
    [
      `global(workDirectory="${dir}" maxMessageSize="64k")`,
      'module(load="imudp")',
      'module(load="imtcp")',
      'template(name="raw" type="string" string="%rawmsg%\\n")',
      `ruleset(name="udp") { action(type="omfile" file="${out('udp')}" template="raw" flushOnTXEnd="on") }`,
      `ruleset(name="tcp") { action(type="omfile" file="${out('tcp')}" template="raw" flushOnTXEnd="on") }`,
      `input(type="imudp" address="127.0.0.1" port="${udpPort}" ruleset="udp")`,
      `input(type="imtcp" address="127.0.0.1" port="${tcpPort}" ruleset="tcp")`,
      '',
    ].join('\n'),
  );

  const child: ChildProcess = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', pidFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );

  const messages = (input: RsyslogInput) => readLines(out(input)).filter((line) => !line.includes(PROBE));

  const stop = async () => {
    if (!exited && child.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      const killed = await Promise.race([exit.then(() => true), sleep(3000).then(() => false)]);
      if (!killed) {
        process.kill(child.pid, 'SIGKILL');
        await exit;
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const waitUntil = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (exited) throw new Error(`rsyslogd exited while waiting for ${what}: ${output}`);
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; rsyslogd said: ${output || '(nothing)'}`);
      await sleep(50);
    }
  };

  try {
    const udp = dgram.createSocket('udp4');
    let n = 0;
    await waitUntil(
      'the UDP probe',
      async () => {
        await new Promise<void>((resolve) =>
          udp.send(probeMessage(n++), udpPort, '127.0.0.1', () => resolve()),
        );
        await sleep(50);
        return readLines(out('udp')).some((line) => line.includes(PROBE));
      },
      10_000,
    );
    udp.close();
    await waitUntil(
      'the TCP probe',
      async () => {
        const sent = await new Promise<boolean>((resolve) => {
          const message = probeMessage(n++);
          const socket = net.connect(tcpPort, '127.0.0.1', () =>
            socket.end(`${Buffer.byteLength(message)} ${message}`),
          );
          socket.once('close', (hadError) => resolve(!hadError));
          socket.once('error', () => resolve(false));
        });
        if (sent) await sleep(50);
        return readLines(out('tcp')).some((line) => line.includes(PROBE));
      },
      10_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    dir,
    udpPort,
    tcpPort,
    messages,
    async waitForMessages(input, count, timeoutMs = 10_000) {
      await waitUntil(`${count} messages on ${input}`, () => messages(input).length >= count, timeoutMs);
      return messages(input);
    },
    stop,
  };
}
