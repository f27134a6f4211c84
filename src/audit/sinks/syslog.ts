import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import { toCef } from '../cef.js';
import { toEcs } from '../ecs.js';
import type { AuditOutcome, StoredAuditEvent } from '../event.js';
import type { SyslogSinkConfig } from './config.js';
import { errorMessage, type Sink } from './sink.js';

/**
 * The largest message sent, header included. A UDP datagram holds at most 65,507 bytes; stream transports use the
 * same bound so a receiver sees the same messages whatever the transport. An event that does not fit (only
 * possible with very large `details`) is sent shortened, with `details: { truncated: true }`.
 */
export const MAX_MESSAGE_BYTES = 65_000;
const TRUNCATED_STRING = 1024;

/** RFC 5424 severity: informational for success, notice for failure, warning for denied. */
const SEVERITY: Record<AuditOutcome, number> = { success: 6, failure: 5, denied: 4 };

export interface SyslogSinkOptions {
  /** the HOSTNAME field; default os.hostname() */
  hostname?: string;
  connectTimeoutMs?: number;
  /** a stream write that is not taken by the kernel within this time fails the batch */
  writeTimeoutMs?: number;
}

/** Printable US-ASCII without spaces, at most `max` characters, "-" when empty (RFC 5424 header fields). */
function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

function truncateStrings(value: unknown): unknown {
  if (typeof value === 'string')
    return value.length > TRUNCATED_STRING ? value.slice(0, TRUNCATED_STRING) : value;
  if (Array.isArray(value)) return value.slice(0, 20).map(truncateStrings);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, truncateStrings(v)]));
  }
  return value;
}

/** The event without `details` and with every string cut to 1 KiB: small enough for any message. */
export function shortened(stored: StoredAuditEvent): StoredAuditEvent {
  const { details: _details, ...rest } = stored.event;
  const event = truncateStrings(rest) as StoredAuditEvent['event'];
  return { ...stored, event: { ...event, details: { truncated: true } } };
}

export interface SyslogFormat {
  format: 'json' | 'cef';
  appName: string;
  facility: number;
  hostname: string;
  procId: string;
}

/** One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`, MSG without a BOM. */
export function formatSyslog(stored: StoredAuditEvent, f: SyslogFormat): Buffer {
  const build = (s: StoredAuditEvent) => {
    const pri = f.facility * 8 + (SEVERITY[s.event.outcome] ?? 5);
    const header = [
      `<${pri}>1`,
      headerField(s.event.time, 64),
      headerField(f.hostname, 255),
      headerField(f.appName, 48),
      headerField(f.procId, 128),
      headerField(s.event.action, 32),
      '-',
    ].join(' ');
    const msg = f.format === 'cef' ? toCef(s) : JSON.stringify(toEcs(s));
    return Buffer.from(`${header} ${msg}`, 'utf8');
  };
  const full = build(stored);
  return full.length <= MAX_MESSAGE_BYTES ? full : build(shortened(stored));
}

/** RFC 6587 §3.4.1 octet counting: `<length> <message>`. */
export function octetFrame(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}

type Stream = net.Socket | tls.TLSSocket;

/** Ships to a syslog receiver over UDP (one message per datagram), TCP or TLS (octet-counted frames). */
export class SyslogSink implements Sink {
  readonly name: string;
  readonly #config: SyslogSinkConfig;
  readonly #format: SyslogFormat;
  readonly #connectTimeoutMs: number;
  readonly #writeTimeoutMs: number;
  #stream?: Stream;
  #udp?: { socket: dgram.Socket; address: string };
  #closed = false;

  constructor(config: SyslogSinkConfig, options: SyslogSinkOptions = {}) {
    this.name = config.name;
    this.#config = config;
    this.#format = {
      format: config.format,
      appName: config.app_name,
      facility: config.facility,
      hostname: options.hostname ?? os.hostname(),
      procId: String(process.pid),
    };
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 30_000;
    if (config.ca_file !== undefined) {
      // Fail at start, not at the first event, when the file is not there.
      try {
        fs.accessSync(config.ca_file, fs.constants.R_OK);
      } catch (err) {
        throw new Error(`audit sink "${config.name}": cannot read ca_file: ${errorMessage(err)}`, {
          cause: err,
        });
      }
    }
  }

  async deliver(batch: StoredAuditEvent[]): Promise<void> {
    if (this.#closed) throw new Error('the sink is closed');
    if (batch.length === 0) return;
    const messages = batch.map((s) => formatSyslog(s, this.#format));
    if (this.#config.transport === 'udp') await this.#sendUdp(messages);
    else await this.#sendStream(Buffer.concat(messages.map(octetFrame)));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const udp = this.#udp;
    this.#udp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.socket.close(() => resolve()));
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream && !stream.destroyed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => stream.destroy(), 1000);
        stream.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        stream.end();
      });
    }
  }

  async #sendUdp(messages: Buffer[]): Promise<void> {
    if (!this.#udp) {
      const { address, family } = await dns.lookup(this.#config.host);
      const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
      socket.on('error', () => this.#dropUdp(socket));
      socket.unref();
      this.#udp = { socket, address };
    }
    const { socket, address } = this.#udp;
    try {
      for (const message of messages) {
        await new Promise<void>((resolve, reject) =>
          socket.send(message, this.#config.port, address, (err) => (err ? reject(err) : resolve())),
        );
      }
    } catch (err) {
      this.#dropUdp(socket);
      throw new Error(`syslog udp ${this.#config.host}:${this.#config.port}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  #dropUdp(socket: dgram.Socket): void {
    if (this.#udp?.socket === socket) this.#udp = undefined;
    try {
      socket.close();
    } catch {
      // already closed
    }
  }

  async #sendStream(data: Buffer): Promise<void> {
    let stream: Stream | undefined;
    try {
      stream = await this.#connected();
      const s = stream;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => s.destroy(new Error('write timed out')), this.#writeTimeoutMs);
        s.write(data, (err) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        });
      });
    } catch (err) {
      stream?.destroy();
      if (this.#stream === stream) this.#stream = undefined;
      throw new Error(
        `syslog ${this.#config.transport} ${this.#config.host}:${this.#config.port}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }

  /** The open connection, or a new one; a connection the receiver closed is replaced. */
  async #connected(): Promise<Stream> {
    const current = this.#stream;
    if (current && !current.destroyed && current.writable) return current;
    current?.destroy();
    this.#stream = undefined;

    const { host, port } = this.#config;
    const stream = await new Promise<Stream>((resolve, reject) => {
      let socket: Stream;
      const ready = this.#config.transport === 'tls' ? 'secureConnect' : 'connect';
      if (this.#config.transport === 'tls') {
        socket = tls.connect({
          host,
          port,
          ca: this.#config.ca_file ? fs.readFileSync(this.#config.ca_file) : undefined,
          rejectUnauthorized: this.#config.reject_unauthorized,
          servername: net.isIP(host) ? undefined : host,
        });
      } else {
        socket = net.connect({ host, port });
      }
      const timer = setTimeout(() => socket.destroy(new Error('connect timed out')), this.#connectTimeoutMs);
      const onError = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once('error', onError);
      socket.once(ready, () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(socket);
      });
    });
    // Receivers do not answer; read and drop anything they send so the socket never stalls.
    stream.on('data', () => {});
    stream.on('error', () => stream.destroy());
    stream.on('close', () => {
      if (this.#stream === stream) this.#stream = undefined;
    });
    stream.setNoDelay(true);
    stream.setKeepAlive(true, 60_000);
    if (this.#closed) {
      stream.destroy();
      throw new Error('the sink is closed');
    }
    this.#stream = stream;
    return stream;
  }
}
