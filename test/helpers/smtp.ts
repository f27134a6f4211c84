import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** A message as the server received it: the envelope, and the headers and text read from the raw message. */
export interface ReceivedMail {
  from: string;
  to: string[];
  /** header names in lower case; folded lines joined, encoded words decoded */
  headers: Record<string, string>;
  subject: string;
  text: string;
  raw: string;
  /** the user the client authenticated as, if any */
  user?: string;
}

export interface TestSmtpServer {
  host: string;
  port: number;
  received: ReceivedMail[];
  /** the next message to `to` not returned before; waits for it up to `timeoutMs` */
  waitFor(to: string, timeoutMs?: number): Promise<ReceivedMail>;
  /** every message to `to` so far */
  to(to: string): ReceivedMail[];
  /** failed AUTH attempts */
  authFailures: number;
  /**
   * Holds the server's answer to each message it receives from now on (a slow mail server): the message is in
   * `received`, but the sender waits, until the returned function is called.
   */
  hold(): () => void;
  close(): Promise<void>;
}

function decodeQuotedPrintable(text: string): Buffer {
  const soft = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    const hex = soft[i] === '=' ? /^[0-9A-F]{2}$/i.exec(soft.slice(i + 1, i + 3)) : null;
    if (hex) {
      bytes.push(parseInt(hex[0], 16));
      i += 2;
    } else bytes.push(...Buffer.from(soft[i]!, 'utf8'));
  }
  return Buffer.from(bytes);
}

/** RFC 2047 encoded words (`=?UTF-8?Q?…?=`, `=?UTF-8?B?…?=`), as nodemailer writes non-ASCII subjects. */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([QB])\?([^?]*)\?=/gi, (_m, _charset: string, enc: string, data: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('utf8')
        : decodeQuotedPrintable(data.replace(/_/g, ' ')).toString('utf8'),
    );
}

/** Enough MIME for the single-part text messages Poort sends. */
export function parseMail(raw: string): { headers: Record<string, string>; text: string } {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0)
      headers[line.slice(0, colon).trim().toLowerCase()] = decodeWords(line.slice(colon + 1).trim());
  }
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const text =
    encoding === 'quoted-printable'
      ? decodeQuotedPrintable(body).toString('utf8')
      : encoding === 'base64'
        ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
        : body;
  return { headers, text: text.replace(/\r\n/g, '\n') };
}

/**
 * A real SMTP server (the smtp-server package) on a free loopback port, without TLS, that keeps what it receives.
 * With `user` and `password` it requires AUTH (PLAIN or LOGIN, allowed without TLS here because it is loopback).
 */
export async function startSmtpServer(
  options: { user?: string; password?: string } = {},
): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  const taken = new Set<ReceivedMail>();
  const waiters = new Set<() => void>();
  let authFailures = 0;
  let held: Promise<void> = Promise.resolve();
  const requireAuth = options.user !== undefined;
  const server = new SMTPServer({
    secure: false,
    disabledCommands: requireAuth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !requireAuth,
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === options.user && auth.password === options.password) {
        return callback(null, { user: auth.username });
      }
      authFailures++;
      return callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const { headers, text } = parseMail(raw);
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          headers,
          subject: headers.subject ?? '',
          text,
          raw,
          ...(typeof session.user === 'string' ? { user: session.user } : {}),
        });
        for (const wake of waiters) wake();
        void held.then(() => callback());
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;
  const forRecipient = (to: string) =>
    received.filter((m) => m.to.some((r) => r.toLowerCase() === to.toLowerCase()));
  return {
    host: '127.0.0.1',
    port,
    received,
    get authFailures() {
      return authFailures;
    },
    to: forRecipient,
    hold() {
      let release!: () => void;
      held = new Promise<void>((resolve) => (release = resolve));
      return () => {
        release();
        held = Promise.resolve();
      };
    },
    waitFor(to, timeoutMs = 5000) {
      return new Promise<ReceivedMail>((resolve, reject) => {
        const check = () => {
          const next = forRecipient(to).find((m) => !taken.has(m));
          if (!next) return false;
          taken.add(next);
          waiters.delete(check);
          clearTimeout(timer);
          resolve(next);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no message to ${to} within ${timeoutMs} ms`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The six-digit code in a message's text. */
export function codeIn(text: string): string {
  const match = /\b(\d{6})\b/.exec(text);
  if (!match) throw new Error(`no code in: ${text}`);
  return match[1]!;
}

/** The next message to `to` and the one link in it (a reset link), or an error showing the message. */
export async function mailedLink(
  smtp: TestSmtpServer,
  to: string,
): Promise<{ subject: string; link: string; text: string }> {
  const mail = await smtp.waitFor(to);
  const link = /https?:\/\/\S+/.exec(mail.text)?.[0];
  if (!link) throw new Error(`no link in the e-mail:\n${mail.text}`);
  return { subject: mail.subject, link, text: mail.text };
}
