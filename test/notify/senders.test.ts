import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smsSenderSchema, smtpSenderSchema, webhookSenderSchema } from '../../src/notify/config.js';
import { createSender } from '../../src/notify/create.js';
import { OutboxSender } from '../../src/notify/outbox.js';
import { SendError } from '../../src/notify/sender.js';
import { SmtpSender } from '../../src/notify/smtp.js';
import { fillTemplate, WebhookSender } from '../../src/notify/webhook.js';
import { tempDir } from '../helpers/poort.js';
import { startSmsGateway, type TestSmsGateway } from '../helpers/sms-gateway.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';

let dir: string;
beforeAll(() => {
  dir = tempDir('poort-notify-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the send to fail');
}

describe('SMTP sender', () => {
  let smtp: TestSmtpServer;
  const smtpConfig = (extra: Record<string, unknown>) =>
    smtpSenderSchema.parse({
      type: 'smtp',
      host: '127.0.0.1',
      port: smtp.port,
      security: 'none',
      from: 'Poort <no-reply@example.org>',
      timeout: '5s',
      ...extra,
    });

  beforeAll(async () => {
    smtp = await startSmtpServer({ user: 'mailer', password: 's3cret pass' });
  });
  afterAll(async () => smtp?.close());

  it('authenticates with a password from the environment and delivers subject and text', async () => {
    const sender = new SmtpSender(smtpConfig({ username: 'mailer', password: '${MAIL_PW}' }), {
      env: { MAIL_PW: 's3cret pass' },
    });
    await sender.send('piet@example.org', {
      subject: 'Aanmeldcode — één keer',
      text: 'Uw code: 123 456\nGroet',
    });
    const mail = await smtp.waitFor('piet@example.org');
    expect(mail.user).toBe('mailer');
    expect(mail.from).toBe('no-reply@example.org');
    expect(mail.subject).toBe('Aanmeldcode — één keer');
    expect(mail.text.trim()).toBe('Uw code: 123 456\nGroet');
  });

  it('reads the password from a file', async () => {
    const file = path.join(dir, 'smtp-password');
    fs.writeFileSync(file, 's3cret pass\n', { mode: 0o600 });
    await new SmtpSender(smtpConfig({ username: 'mailer', password_file: file })).send('kees@example.org', {
      text: 'hallo',
    });
    expect((await smtp.waitFor('kees@example.org')).user).toBe('mailer');
  });

  it('fails with the reason, never the password', async () => {
    const sender = new SmtpSender(smtpConfig({ username: 'mailer', password: '${MAIL_PW}' }), {
      env: { MAIL_PW: 'wrong horse battery' },
    });
    const err = await rejection(sender.send('x@example.org', { text: 'code 111222' }));
    expect(err).toBeInstanceOf(SendError);
    expect(err.message).toMatch(/^smtp 127\.0\.0\.1:\d+: EAUTH/);
    expect(err.message).not.toContain('wrong horse battery');
    expect(err.message).not.toContain('111222');
    expect(smtp.authFailures).toBeGreaterThanOrEqual(1);
  });

  it('fails when nothing listens, within the timeout', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = http.createServer();
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const sender = new SmtpSender(smtpConfig({ port: closed }));
    expect(await rejection(sender.send('x@example.org', { text: 't' }))).toBeInstanceOf(SendError);
  });

  it('refuses to start without its secret', () => {
    expect(
      () =>
        new SmtpSender(smtpConfig({ username: 'mailer', password: '${MAIL_PW}' }), {
          env: {},
          where: 'mfa.otp.email',
        }),
    ).toThrow('mfa.otp.email.password refers to ${MAIL_PW}, which is not set');
  });
});

describe('SMS webhook sender', () => {
  let gateway: TestSmsGateway;
  beforeAll(async () => {
    gateway = await startSmsGateway({ expectedAuth: 'Bearer abc.def' });
  });
  afterAll(async () => gateway?.close());

  const sender = (extra: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = { SMS_TOKEN: 'abc.def' }) =>
    new WebhookSender(
      webhookSenderSchema.parse({
        type: 'webhook',
        url: gateway.url,
        headers: { Authorization: 'Bearer ${SMS_TOKEN}' },
        ...extra,
      }),
      { env },
    );

  it('posts the JSON body with the number and text put in, JSON-escaped', async () => {
    const text = 'Code "123456"\nline two \\ {{to}} </script> ✓';
    await sender({
      body: '{"to": "{{to}}", "text": "{{text}}", "meta": {"tag": "otp for {{to}}", "n": 1}}',
    }).send('+31612345678', { text });
    const got = await gateway.waitFor('+31612345678');
    expect(got.text).toBe(text);
    expect(got.request.body).toEqual({
      to: '+31612345678',
      text,
      meta: { tag: 'otp for +31612345678', n: 1 },
    });
    expect(got.request.headers['content-type']).toBe('application/json');
  });

  it('fills templates without ever leaving a string value', () => {
    expect(
      fillTemplate({ a: ['{{to}}', 2, null, { b: '{{text}}{{text}}' }] }, { to: '"x"', text: '}' }),
    ).toEqual({
      a: ['"x"', 2, null, { b: '}}' }],
    });
  });

  it('fails on a refused request or an error status, without following redirects', async () => {
    expect(
      (await rejection(sender({}, { SMS_TOKEN: 'wrong' }).send('+31600000001', { text: 't' }))).message,
    ).toMatch(/HTTP 401/);
    gateway.failWith(503);
    try {
      expect((await rejection(sender().send('+31600000002', { text: 't' }))).message).toMatch(/HTTP 503/);
    } finally {
      gateway.failWith(undefined);
    }
    const redirecting = http.createServer((_req, res) => res.writeHead(307, { location: gateway.url }).end());
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', () => resolve()));
    try {
      const { port } = redirecting.address() as AddressInfo;
      const err = await rejection(
        sender({ url: `http://127.0.0.1:${port}/send` }).send('+31600000003', { text: 't' }),
      );
      expect(err.message).toMatch(/HTTP 307/);
      expect(gateway.accepted.some((r) => JSON.stringify(r.body).includes('+31600000003'))).toBe(false);
    } finally {
      await new Promise<void>((resolve) => redirecting.close(() => resolve()));
    }
  });

  it('gives up after its timeout', async () => {
    const silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    try {
      const { port } = silent.address() as AddressInfo;
      const started = Date.now();
      const err = await rejection(
        sender({ url: `http://127.0.0.1:${port}/send`, timeout: '1s' }).send('+31600000004', { text: 't' }),
      );
      expect(err.message).toMatch(/no answer within 1s/);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('outbox sender', () => {
  it('appends messages to a file only its owner can read, and logs that it did (the text only at debug)', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = (level: string) =>
      pino(
        { level, base: undefined },
        { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
      );
    const file = path.join(dir, 'outbox', 'messages.jsonl');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, '', { mode: 0o644 });
    await new OutboxSender(file, 'email', log('info')).send('an@example.org', {
      subject: 'Code',
      text: 'code 424242',
    });
    await new OutboxSender(file, 'sms', log('debug')).send('+31612345678', { text: 'code 535353' });

    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const written = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(written).toMatchObject([
      { channel: 'email', to: 'an@example.org', subject: 'Code', text: 'code 424242' },
      { channel: 'sms', to: '+31612345678', text: 'code 535353' },
    ]);
    const info = lines.filter((l) => l.level === 30);
    expect(info.map((l) => l.msg)).toEqual(['message written to outbox', 'message written to outbox']);
    expect(JSON.stringify(info)).not.toMatch(/424242|535353|an@example\.org/);
    expect(lines.find((l) => l.level === 20)).toMatchObject({ text: 'code 535353' });
    expect(JSON.stringify(lines)).not.toContain('424242');
  });

  it('is made from configuration, in the data folder by default, with a warning', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
    const dataDir = path.join(dir, 'data');
    const sender = createSender('sms', smsSenderSchema.parse({ type: 'outbox' }), {
      log,
      dataDir,
      where: 'mfa.otp.sms',
    });
    await sender.send('+31612345678', { text: 'hello' });
    expect(fs.existsSync(path.join(dataDir, 'outbox.jsonl'))).toBe(true);
    expect(lines[0]).toContain('for development only');
  });
});
