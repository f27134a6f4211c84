import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import {
  consume,
  isActive,
  newCode,
  normaliseCode,
  reserveTry,
  type CodeRecord,
} from '../../src/mfa/otp/codes.js';
import { maskEmail, maskPhone, parseEmail, parsePhone } from '../../src/mfa/otp/destination.js';
import { otpFactors } from '../../src/mfa/otp/kinds.js';
import { codeMessage } from '../../src/mfa/otp/messages.js';
import { releaseSend, reserveSend, SendLimiter } from '../../src/mfa/otp/send-limit.js';
import type { Services } from '../../src/server/services.js';
import { tempDir } from '../helpers/poort.js';
import { openTestKeyValueStore } from '../helpers/backend.js';

let dir: string;
let n = 0;
beforeAll(() => {
  dir = tempDir('poort-otp-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const file = path.join(dir, `poort-${++n}.yaml`);
  fs.writeFileSync(file, yaml);
  return loadConfig({ file, env });
}

function configError(yaml: string): string {
  try {
    load(yaml);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('destinations', () => {
  it('accepts e-mail addresses, lower-casing only the domain', () => {
    expect(parseEmail(' Jan.Jansen+poort@Example.NL ')).toBe('Jan.Jansen+poort@example.nl');
    for (const bad of [
      'jan',
      '@example.nl',
      'jan@',
      'jan@nl',
      'jan..j@example.nl',
      'jan @example.nl',
      `${'a'.repeat(65)}@example.nl`,
    ]) {
      expect(parseEmail(bad), bad).toBeUndefined();
    }
  });

  it('accepts phone numbers in E.164 form: + and 8 to 15 digits, written with spaces or dashes', () => {
    expect(parsePhone('+31 6 1234 5678')).toBe('+31612345678');
    expect(parsePhone('+1 (415) 555-2671')).toBe('+14155552671');
    expect(parsePhone('+1234567')).toBeUndefined(); // 7 digits
    expect(parsePhone('+12345678')).toBe('+12345678');
    expect(parsePhone('+123456789012345')).toBe('+123456789012345');
    expect(parsePhone('+1234567890123456')).toBeUndefined(); // 16 digits
    expect(parsePhone('0612345678')).toBeUndefined();
    expect(parsePhone('+31 6 1234 567a')).toBeUndefined();
  });

  it('masks what is shown on pages and in logs', () => {
    expect(maskEmail('anna@example.org')).toBe('a***@example.org');
    expect(maskPhone('+31612345678')).toBe('+31 6 *** ** 78');
    expect(maskPhone('+14155552671')).toBe('+1 4 *** ** 71');
    expect(maskPhone('+353871234567')).toBe('+353 8 *** ** 67');
  });
});

describe('codes', () => {
  it('are six random digits, typed with or without spaces', () => {
    const seen = new Set(Array.from({ length: 200 }, newCode));
    for (const c of seen) expect(c).toMatch(/^\d{6}$/);
    expect(seen.size).toBeGreaterThan(190);
    expect(normaliseCode(' 012 345 ')).toBe('012345');
    expect(normaliseCode('12345')).toBeUndefined();
  });

  it('count each guess before it is checked, and die after max_tries', () => {
    let record: CodeRecord | undefined = { code: { id: 'a', hash: 'h', expiresAt: 10_000, tries: 0 } };
    const kinds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const next = reserveTry(record, 1000, 3);
      record = next.record;
      kinds.push(
        next.reservation.kind === 'check'
          ? `check${next.reservation.last ? '-last' : ''}`
          : next.reservation.kind,
      );
    }
    expect(kinds).toEqual(['check', 'check', 'check-last', 'too_many_tries']);
    expect(isActive(record?.code, 1000, 3)).toBe(false);
  });

  it('expire, belong to the address they were sent to, and are used once', () => {
    const record: CodeRecord = { code: { id: 'a', hash: 'h', expiresAt: 10_000, tries: 0 }, boundTo: 'x' };
    expect(reserveTry(record, 10_000, 5).reservation.kind).toBe('expired');
    expect(reserveTry(record, 1000, 5, 'y').reservation.kind).toBe('expired');
    expect(reserveTry(record, 1000, 5, 'x').reservation.kind).toBe('check');
    expect(reserveTry(undefined, 1000, 5).reservation.kind).toBe('expired');
    const used = consume(record, 'a');
    expect(used.consumed).toBe(true);
    expect(used.record).toEqual({ boundTo: 'x' });
    expect(consume(used.record, 'a').consumed).toBe(false);
  });
});

describe('the send limit', () => {
  it('is a sliding window', () => {
    let times: number[] | undefined;
    const allowed: boolean[] = [];
    for (const now of [0, 1000, 2000, 3000, 61_000]) {
      const next = reserveSend(times, now, 3, 60);
      times = next.times;
      allowed.push(next.allowed);
    }
    expect(allowed).toEqual([true, true, true, false, true]);
    // the refused send at 3000 was not recorded; 0 and 1000 fell out of the window
    expect(times).toEqual([2000, 61_000]);
    expect(releaseSend(times, 61_000)).toEqual([2000]);
    expect(releaseSend([2000], 2000)).toBeUndefined();
  });

  it('counts per user and per IP (IPv6 per /64), a refused send against neither', async () => {
    const kv = await openTestKeyValueStore(tempDir('poort-otp-kv-'));
    try {
      const limiter = new SendLimiter(kv, { perUser: 2, perIp: 3, window: 900 });
      expect(await limiter.reserveFor('u1', '2001:db8:1:2::1')).toBe(true);
      expect(await limiter.reserveFor('u1', '2001:db8:1:2::2')).toBe(true);
      expect(await limiter.reserveFor('u1', '192.0.2.9')).toBe(false); // u1 used up
      expect(await limiter.reserveFor('u2', '2001:db8:1:2:ffff::3')).toBe(true); // third from this /64
      expect(await limiter.reserveFor('u3', '2001:db8:1:2::4')).toBe(false); // the /64 is used up
      // u3's refused send was taken back: it has both of its own left
      expect(await limiter.reserveFor('u3', '192.0.2.10')).toBe(true);
      expect(await limiter.reserveFor('u3', '192.0.2.10')).toBe(true);
      expect(await limiter.reserveFor('u3', '192.0.2.10')).toBe(false);
    } finally {
      await kv.close();
    }
  });
});

describe('messages', () => {
  it('are in the organisation language', () => {
    const settings = { organisation: 'Gemeente Poort', lifetime: 300 } as const;
    expect(codeMessage('sms', 'signin', '012345', { ...settings, language: 'nl' })).toEqual({
      text: '012345 is uw aanmeldcode voor Gemeente Poort. 5 minuten geldig. Geef hem nooit aan iemand anders.',
    });
    const mail = codeMessage('email', 'signin', '012345', { ...settings, language: 'en', lifetime: 90 });
    expect(mail.subject).toBe('Your sign-in code for Gemeente Poort');
    expect(mail.text).toContain('    012345\n');
    expect(mail.text).toContain('valid for 90 seconds');
  });
});

describe('mfa.otp configuration', () => {
  it('has defaults: 5 minutes, 5 tries, 5 codes per user and 20 per IP per 15 minutes, no senders', () => {
    expect(load('').config.mfa.otp).toEqual({
      code_lifetime: 300,
      max_tries: 5,
      send_limit: { per_user: 5, per_ip: 20, window: 900 },
    });
  });

  it('reads SMTP and webhook senders', () => {
    const { otp } = load(`
mfa:
  otp:
    code_lifetime: 10m
    email: { type: smtp, host: smtp.example.org, username: poort, password: "\${SMTP_PASSWORD}", from: "Poort <no-reply@example.org>" }
    sms:
      type: webhook
      url: https://sms.example.net/v1/messages
      headers: { Authorization: "Bearer \${SMS_TOKEN}" }
      body: '{"recipient": "{{to}}", "message": {"text": "{{text}}"}}'
`).config.mfa;
    expect(otp.code_lifetime).toBe(600);
    expect(otp.email).toMatchObject({
      type: 'smtp',
      security: 'starttls',
      timeout: 10,
      reject_unauthorized: true,
    });
    expect(otp.sms).toMatchObject({
      body: { recipient: '{{to}}', message: { text: '{{text}}' } },
      timeout: 10,
    });
  });

  it('says clearly what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      [
        `mfa: { otp: { email: { type: smtp, host: smtp.example.org, from: a@b.c, username: u, password: hunter2 } } }`,
        /mfa\.otp\.email\.password: write the password as \$\{ENV_VAR\}/,
      ],
      [
        `mfa: { otp: { email: { type: smtp, host: smtp.example.org, from: a@b.c, security: none } } }`,
        /mfa\.otp\.email\.security: security: none is only allowed for a mail server on loopback/,
      ],
      [
        `mfa: { otp: { email: { type: smtp, host: smtp.example.org, from: a@b.c, username: u } } }`,
        /mfa\.otp\.email\.username: a username needs password or password_file/,
      ],
      [
        `mfa: { otp: { email: { type: smtp, host: smtp.example.org, from: nobody } } }`,
        /mfa\.otp\.email\.from: expected an address/,
      ],
      [
        `mfa: { otp: { email: { type: sendmail } } }`,
        /mfa\.otp\.email(\.type)?: expected type: smtp or outbox/,
      ],
      [
        `mfa: { otp: { sms: { type: webhook, url: "http://sms.example.net/send" } } }`,
        /mfa\.otp\.sms\.url: plain http is only allowed for a gateway on loopback/,
      ],
      [
        `mfa: { otp: { sms: { type: webhook, url: "https://sms.example.net/send", body: '{"to": {{to}}, "text": "{{text}}"}' } } }`,
        /mfa\.otp\.sms\.body: expected JSON/,
      ],
      [
        `mfa: { otp: { sms: { type: webhook, url: "https://sms.example.net/send", body: { to: "{{to}}" } } } }`,
        /mfa\.otp\.sms\.body: the body needs \{\{text\}\}/,
      ],
      [
        `mfa: { otp: { sms: { type: webhook, url: "https://sms.example.net/send", headers: { Host: x } } } }`,
        /mfa\.otp\.sms\.headers\.Host: the Host header is set by Poort/,
      ],
      [
        `mfa: { otp: { code_lifetime: 2h } }`,
        /mfa\.otp\.code_lifetime: expected a lifetime between 1s and 1h/,
      ],
      [`mfa: { otp: { send_limit: { per_user: 0 } } }`, /mfa\.otp\.send_limit\.per_user/],
      [`mfa: { otp: { lifetime: 5m } }`, /mfa\.otp: unknown key lifetime/],
    ];
    for (const [yaml, expected] of cases) expect(configError(yaml)).toMatch(expected);
  });

  it('stops start-up when a kind is offered without a way to send its codes, or a secret is missing', () => {
    const log = pino({ level: 'silent' });
    const services = (yaml: string) => {
      const loaded = load(yaml);
      return { config: loaded.config, configFile: loaded.file } as Services;
    };
    expect(() => otpFactors(services('mfa: { kinds: [totp, sms] }'), log)).toThrow(
      /mfa\.kinds: "sms" is offered, but mfa\.otp\.sms does not say how to send its codes/,
    );
    expect(() =>
      otpFactors(
        services(
          'mfa: { otp: { email: { type: smtp, host: h.example, from: a@b.c, username: u, password: "${NOT_SET_ANYWHERE}" } } }',
        ),
        log,
        {},
      ),
    ).toThrow(/mfa\.otp\.email\.password refers to \$\{NOT_SET_ANYWHERE\}, which is not set/);
    expect(() =>
      otpFactors(
        services(
          `mfa: { otp: { email: { type: smtp, host: h.example, from: a@b.c, username: u, password_file: ${dir}/missing } } }`,
        ),
        log,
      ),
    ).toThrow(/mfa\.otp\.email\.password_file: cannot read .*missing: ENOENT/);
  });
});
