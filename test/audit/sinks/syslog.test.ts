import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poortVersion } from '../../../src/audit/cef.js';
import type { StoredAuditEvent } from '../../../src/audit/event.js';
import { AuditShipper } from '../../../src/audit/shipper.js';
import { sinkSchema, type SyslogSinkConfig } from '../../../src/audit/sinks/config.js';
import { MAX_MESSAGE_BYTES, SyslogSink } from '../../../src/audit/sinks/syslog.js';
import { startRsyslog, type Rsyslog } from '../../helpers/rsyslog.js';
import { openAuditFixture, sampleEvent, silentLogger, waitFor, type AuditFixture } from './fixture.js';

const HOSTNAME = 'idp-test-1';
const RFC5424 = /^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) - (.*)$/;

function syslogConfig(input: Record<string, unknown>): SyslogSinkConfig {
  return sinkSchema.parse({ type: 'syslog', host: '127.0.0.1', ...input }) as SyslogSinkConfig;
}

interface Parsed {
  pri: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  msg: string;
}

function parse(line: string): Parsed {
  const m = RFC5424.exec(line);
  if (!m) throw new Error(`not an RFC 5424 message: ${line.slice(0, 200)}`);
  return {
    pri: Number(m[1]),
    timestamp: m[2]!,
    hostname: m[3]!,
    appName: m[4]!,
    procId: m[5]!,
    msgId: m[6]!,
    msg: m[7]!,
  };
}

/** Ships everything appended so far through one syslog sink, then stops. */
async function ship(fx: AuditFixture, config: SyslogSinkConfig, until: () => boolean | Promise<boolean>) {
  const sink = new SyslogSink(config, { hostname: HOSTNAME });
  const shipper = new AuditShipper({
    audit: fx.audit,
    sinks: [sink],
    logger: silentLogger,
    retry: { initialMs: 20 },
  });
  await shipper.start();
  try {
    await waitFor('delivery', until);
  } finally {
    await shipper.stop();
  }
  return shipper;
}

describe('syslog sink with a real rsyslogd', () => {
  let rsyslog: Rsyslog;
  let fx: AuditFixture;

  beforeAll(async () => {
    [rsyslog, fx] = await Promise.all([startRsyslog(), openAuditFixture()]);
  });
  afterAll(async () => {
    await rsyslog?.stop();
    await fx?.close();
  });

  it('sends one RFC 5424 message per event over UDP, the ECS document as MSG, in order', async () => {
    const events = await fx.appendMany(30);
    await ship(fx, syslogConfig({ name: 'udp-json', transport: 'udp', port: rsyslog.udpPort }), async () => {
      return rsyslog.messages('udp').length >= events.length;
    });
    const lines = rsyslog.messages('udp');
    expect(lines).toHaveLength(events.length);
    lines.forEach((line, i) => {
      const stored = events[i]!;
      const m = parse(line);
      // authpriv (10) · 8 + informational (6) / notice (5) / warning (4)
      expect(m.pri).toBe(10 * 8 + { success: 6, failure: 5, denied: 4 }[stored.event.outcome]);
      expect(m.timestamp).toBe(stored.event.time);
      expect(m.hostname).toBe(HOSTNAME);
      expect(m.appName).toBe('poort');
      expect(m.procId).toBe(String(process.pid));
      expect(m.msgId).toBe(stored.event.action);
      const doc = JSON.parse(m.msg) as { event: { id: string; sequence: number }; user: { name: string } };
      expect(doc.event.id).toBe(stored.event.id);
      expect(doc.event.sequence).toBe(stored.seq);
      expect(doc.user.name).toBe(stored.event.subject?.username);
    });
  });

  it('sends octet-counted frames over TCP in batches, in order, with facility and app name as configured', async () => {
    const before = (await fx.audit.readAfter(0, 10_000)).length;
    // Line breaks and spaces inside values must not split frames.
    const events = await fx.appendMany(250, (i) => ({
      ...sampleEvent(i),
      source: { ip: '2001:db8::7', user_agent: `agent ${i}\nsecond line` },
    }));
    const config = syslogConfig({
      name: 'tcp-json',
      transport: 'tcp',
      port: rsyslog.tcpPort,
      app_name: 'poort-idp',
      facility: 'local4',
    });
    const shipper = await ship(fx, config, () => rsyslog.messages('tcp').length >= before + events.length);
    const lines = rsyslog.messages('tcp');
    expect(lines).toHaveLength(before + events.length);
    const docs = lines.map((line) => {
      const m = parse(line);
      expect(m.appName).toBe('poort-idp');
      expect(Math.floor(m.pri / 8)).toBe(20);
      return JSON.parse(m.msg) as {
        event: { id: string; sequence: number };
        user_agent: { original: string };
      };
    });
    expect(docs.map((d) => d.event.sequence)).toEqual(Array.from({ length: docs.length }, (_, i) => i + 1));
    expect(docs.slice(before).map((d) => d.event.id)).toEqual(events.map((e) => e.event.id));
    expect(docs[docs.length - 1]!.user_agent.original).toBe('agent 249\nsecond line');
    expect(shipper.status()).toEqual([
      { name: 'tcp-json', cursor: before + events.length, lag: 0, failing: false },
    ]);
  });

  it('sends CEF lines when format is cef', async () => {
    // Start this sink at the current head: UDP bursts of hundreds of messages may overflow a receive buffer.
    await fx.audit.setCursor('udp-cef', (await fx.audit.readAfter(0, 10_000)).length);
    const events = await fx.appendMany(3, (i) => ({
      ...sampleEvent(i),
      reason: i === 0 ? undefined : 'bad=value|x\\y',
    }));
    const count = rsyslog.messages('udp').length;
    await ship(
      fx,
      syslogConfig({ name: 'udp-cef', transport: 'udp', port: rsyslog.udpPort, format: 'cef' }),
      () => {
        return rsyslog.messages('udp').length >= count + events.length;
      },
    );
    const cef = rsyslog
      .messages('udp')
      .slice(count)
      .map((line) => parse(line).msg);
    expect(cef).toHaveLength(events.length);
    const [success, failure, denied] = cef;
    expect(success).toMatch(
      new RegExp(`^CEF:0\\|Poort\\|Poort\\|${poortVersion()}\\|signin\\.password\\|Password verified\\|3\\|`),
    );
    expect(success).toContain(`externalId=${events[0]!.event.id}`);
    expect(success).toContain(`cn1Label=seq cn1=${events[0]!.seq}`);
    expect(success).toContain('suser=user0');
    expect(success).toContain('src=192.0.2.10');
    expect(success).toContain('cs1Label=application cs1=wiki');
    expect(failure).toMatch(/^CEF:0\|Poort\|Poort\|[^|]+\|signin\.denied\|Sign-in denied\|5\|/);
    expect(failure).toContain('reason=bad\\=value|x\\\\y');
    expect(denied).toMatch(/\|7\|/);
  });

  it('shortens an event too large for one datagram instead of losing it', async () => {
    const [big] = await fx.appendMany(1, (i) => ({
      ...sampleEvent(i),
      details: { blob: 'x'.repeat(100_000) },
    }));
    const count = rsyslog.messages('udp').length;
    const sink = new SyslogSink(syslogConfig({ name: 'udp-big', transport: 'udp', port: rsyslog.udpPort }));
    await sink.deliver([big!]);
    await sink.close();
    const [line] = await rsyslog.waitForMessages('udp', count + 1).then((lines) => lines.slice(count));
    expect(Buffer.byteLength(line!)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    const doc = JSON.parse(parse(line!).msg) as { event: { id: string }; poort: { details: unknown } };
    expect(doc.event.id).toBe(big!.event.id);
    expect(doc.poort.details).toEqual({ truncated: true });
  });

  it('fails the batch when nothing listens on the TCP port', async () => {
    const sink = new SyslogSink(syslogConfig({ name: 'tcp-down', transport: 'tcp', port: rsyslog.udpPort }));
    const [stored] = await fx.audit.readAfter(0, 1);
    await expect(sink.deliver([stored!])).rejects.toThrow(/ECONNREFUSED/);
    await sink.close();
  });
});

/** A TLS syslog receiver: parses octet-counted frames. */
async function startTlsReceiver(key: Buffer, cert: Buffer) {
  const messages: string[] = [];
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({ key, cert }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const space = buffer.indexOf(0x20);
        if (space < 0) break;
        const length = Number(buffer.subarray(0, space).toString('ascii'));
        if (!Number.isInteger(length) || length <= 0) throw new Error('bad frame');
        if (buffer.length < space + 1 + length) break;
        messages.push(buffer.subarray(space + 1, space + 1 + length).toString('utf8'));
        buffer = buffer.subarray(space + 1 + length);
      }
    });
  });
  let handshakeErrors = 0;
  server.on('tlsClientError', () => handshakeErrors++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    messages,
    handshakeErrors: () => handshakeErrors,
    dropConnections: () => sockets.forEach((s) => s.destroy()),
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  };
}

function selfSigned(dir: string, name: string): { key: Buffer; cert: Buffer; certFile: string } {
  const keyFile = path.join(dir, `${name}.key`);
  const certFile = path.join(dir, `${name}.crt`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  return { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile), certFile };
}

describe('syslog sink over TLS', () => {
  let fx: AuditFixture;
  let receiver: Awaited<ReturnType<typeof startTlsReceiver>>;
  let good: ReturnType<typeof selfSigned>;
  let other: ReturnType<typeof selfSigned>;
  let events: StoredAuditEvent[];

  beforeAll(async () => {
    fx = await openAuditFixture();
    good = selfSigned(fx.dir, 'receiver');
    other = selfSigned(fx.dir, 'stranger');
    receiver = await startTlsReceiver(good.key, good.cert);
    events = await fx.appendMany(20);
  });
  afterAll(async () => {
    await receiver?.close();
    await fx?.close();
  });

  it('delivers octet-counted messages to a receiver whose certificate the ca_file signs, reconnecting when dropped', async () => {
    const config = syslogConfig({
      name: 'tls',
      transport: 'tls',
      port: receiver.port,
      ca_file: good.certFile,
    });
    const sink = new SyslogSink(config, { hostname: HOSTNAME });
    await sink.deliver(events.slice(0, 10));
    await waitFor('10 messages', () => receiver.messages.length >= 10);
    receiver.dropConnections();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await sink.deliver(events.slice(10));
    await waitFor('20 messages', () => receiver.messages.length >= 20);
    await sink.close();
    expect(
      receiver.messages.map((m) => (JSON.parse(parse(m).msg) as { event: { id: string } }).event.id),
    ).toEqual(events.map((e) => e.event.id));
  });

  it('refuses a receiver whose certificate the ca_file does not sign', async () => {
    const received = receiver.messages.length;
    const config = syslogConfig({
      name: 'tls-wrong-ca',
      transport: 'tls',
      port: receiver.port,
      ca_file: other.certFile,
    });
    const sink = new SyslogSink(config);
    await expect(sink.deliver(events.slice(0, 1))).rejects.toThrow(/certificate/i);
    await sink.close();
    // Without a ca_file the system CAs are used: a self-signed receiver is refused too.
    const system = new SyslogSink(
      syslogConfig({ name: 'tls-system-ca', transport: 'tls', port: receiver.port }),
    );
    await expect(system.deliver(events.slice(0, 1))).rejects.toThrow(/certificate/i);
    await system.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(receiver.messages.length).toBe(received);
  });

  it('accepts any certificate only with reject_unauthorized: false', async () => {
    const received = receiver.messages.length;
    const sink = new SyslogSink(
      syslogConfig({
        name: 'tls-insecure',
        transport: 'tls',
        port: receiver.port,
        reject_unauthorized: false,
      }),
    );
    await sink.deliver(events.slice(0, 2));
    await waitFor('2 more messages', () => receiver.messages.length >= received + 2);
    await sink.close();
  });

  it('fails at creation when the ca_file is missing', () => {
    const config = syslogConfig({
      name: 'tls-nofile',
      transport: 'tls',
      port: 6514,
      ca_file: '/nonexistent/ca.pem',
    });
    expect(() => new SyslogSink(config)).toThrow(/tls-nofile.*ca_file/);
  });
});
