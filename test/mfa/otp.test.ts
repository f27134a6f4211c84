import fs from 'node:fs';
import path from 'node:path';
import type * as oidc from 'openid-client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChallengeContext } from '../../src/mfa/factor.js';
import { secondFactors } from '../../src/mfa/kinds.js';
import { KNOWN_DEVICE_COOKIE } from '../../src/policy/known-device.js';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  redeemCode,
  relyingParty,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, tempDir, type TestPoort } from '../helpers/poort.js';
import { startSmsGateway, type TestSmsGateway } from '../helpers/sms-gateway.js';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';

const REDIRECT = 'http://127.0.0.1:7911/cb';
const PASSWORD = 'a passphrase nobody guesses';
const SMS_TOKEN = 'gateway-token-7f3a9c';

/** What the gateway's API expects: a list of messages with a recipient and content. */
const readGatewayBody = (body: unknown) => {
  const m = (body as { messages?: Array<{ recipient?: unknown; content?: unknown }> } | null)?.messages?.[0];
  return typeof m?.recipient === 'string' && typeof m.content === 'string'
    ? { to: m.recipient, text: m.content }
    : undefined;
};

/** Every log line Poort wrote, at debug level; without timestamps, whose digits could look like a code. */
function captureLog() {
  const lines: string[] = [];
  const log = pino(
    { level: 'debug', base: undefined, timestamp: false },
    { write: (s: string) => lines.push(s) },
  );
  return { log, lines };
}

/** Whether `code` occurs in `text` as a number of its own (not as part of a longer run of letters and digits). */
const mentions = (text: string, code: string) =>
  new RegExp(`(?<![0-9A-Za-z])${code}(?![0-9A-Za-z])`).test(text);

function otpConfig(smtp: TestSmtpServer, gateway: TestSmsGateway, passwordFile: string, extra = ''): string {
  return `${FAST_ARGON2}
throttle:
  account: { free_attempts: 100, base_delay: 1s, max_delay: 2s, window: 1m }
  ip: { free_attempts: 1000, base_delay: 1s, max_delay: 2s, window: 1m }
mfa:
  otp:
    ${extra}
    send_limit: { per_user: 5, per_ip: 1000, window: 15m }
    email:
      type: smtp
      host: 127.0.0.1
      port: ${smtp.port}
      security: none
      username: poort
      password_file: ${passwordFile}
      from: "Poort <no-reply@example.org>"
    sms:
      type: webhook
      url: ${gateway.url}
      headers: { Authorization: "Bearer \${POORT_TEST_SMS_TOKEN}" }
      body: { messages: [{ recipient: "{{to}}", content: "{{text}}" }], sender: Poort }
      timeout: 5s
`;
}

describe('one-time codes by e-mail and SMS as a second factor', () => {
  let smtp: TestSmtpServer;
  let gateway: TestSmsGateway;
  let poort: TestPoort;
  let config: oidc.Configuration;
  let passwordFile: string;
  const captured = captureLog();
  /** every code sent in these tests, to look for in the audit trail and the logs */
  const codes = new Set<string>();

  async function addUser(username: string, kind: 'email' | 'sms', destination: string, p = poort) {
    const userId = await p.addUser({ username, password: PASSWORD });
    const factor = await p.services.factors.add({
      userId,
      kind,
      name: kind === 'email' ? 'Work mail' : 'Mobile',
      secret: destination,
    });
    return { userId, factor };
  }

  async function signInToCode(username: string, rp = config) {
    const browser = new Browser();
    const pending = await startAuthorization(rp, { redirectUri: REDIRECT });
    const page = await authorizeInBrowser(browser, pending, { username, password: PASSWORD });
    return { browser, pending, page };
  }

  async function mailedCode(to: string): Promise<string> {
    const code = codeIn((await smtp.waitFor(to)).text);
    codes.add(code);
    return code;
  }

  async function textedCode(to: string): Promise<string> {
    const code = codeIn((await gateway.waitFor(to)).text);
    codes.add(code);
    return code;
  }

  const submitCode = (browser: Browser, page: Page, code: string) => {
    const form = readForm(page, 'otp-verify');
    return browser.navigate(form.action, { form: { ...form.fields, code } }, REDIRECT);
  };
  /** "Send code" when none was sent yet, else "Send new code" in the code form (the code field left empty) */
  const askNewCode = (browser: Browser, page: Page) => {
    const form = hasCodeField(page)
      ? readForm(page, 'otp-verify', 'action=send')
      : readForm(page, 'otp-send');
    return browser.navigate(form.action, { form: form.fields }, REDIRECT);
  };
  const hasCodeField = (page: Page) => /autocomplete="one-time-code"/.test(page.body);

  beforeAll(async () => {
    smtp = await startSmtpServer({ user: 'poort', password: 'smtp password 0451' });
    gateway = await startSmsGateway({ expectedAuth: `Bearer ${SMS_TOKEN}`, read: readGatewayBody });
    process.env.POORT_TEST_SMS_TOKEN = SMS_TOKEN;
    passwordFile = path.join(tempDir('poort-smtp-'), 'smtp-password');
    fs.writeFileSync(passwordFile, 'smtp password 0451\n', { mode: 0o600 });
    poort = await startPoort(otpConfig(smtp, gateway, passwordFile), { log: captured.log });
    await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
    config = await relyingParty(poort, 'app', 'app-secret-0123456789');
  });
  afterAll(async () => {
    await poort?.stop();
    await smtp?.close();
    await gateway?.close();
    if (passwordFile) fs.rmSync(path.dirname(passwordFile), { recursive: true, force: true });
  });

  it('signs in with a code sent by e-mail: amr pwd + otp + mfa', async () => {
    await addUser('ann', 'email', 'ann.smit@example.org');
    const { browser, pending, page } = await signInToCode('ann');
    expect(page.status).toBe(200);
    expect(page.url).toMatch(/\/signin\/[^/]+\/mfa$/);
    expect(page.body).toContain('a***@example.org');
    expect(page.body).not.toContain('ann.smit@example.org');
    expect(hasCodeField(page)).toBe(true);

    const mail = await smtp.waitFor('ann.smit@example.org');
    expect(mail.user).toBe('poort');
    expect(mail.headers.from).toBe('Poort <no-reply@example.org>');
    expect(mail.subject).toBe('Your sign-in code for Poort');
    expect(mail.headers['auto-submitted']).toBe('auto-generated');
    expect(mail.text).toContain('valid for 5 minutes');
    const code = codeIn(mail.text);
    codes.add(code);

    const done = await submitCode(browser, page, code);
    expect(done.status).toBe(0);
    const claims = (await redeemCode(config, done, pending)).claims()!;
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe('urn:poort:acr:mfa');
  });

  it('signs in with a code sent by text message through the gateway: amr pwd + sms + mfa', async () => {
    await addUser('bob', 'sms', '+31612345678');
    const { browser, pending, page } = await signInToCode('bob');
    expect(page.body).toContain('+31 6 *** ** 78');
    expect(page.body).not.toContain('612345678');

    const sms = await gateway.waitFor('+31612345678');
    expect(sms.request.headers.authorization).toBe(`Bearer ${SMS_TOKEN}`);
    expect((sms.request.body as { sender: string }).sender).toBe('Poort');
    expect(sms.text).toMatch(/^\d{6} is your Poort sign-in code\. Valid for 5 minutes\./);
    const code = codeIn(sms.text);
    codes.add(code);

    const done = await submitCode(browser, page, code);
    expect(done.status).toBe(0);
    expect((await redeemCode(config, done, pending)).claims()!.amr).toEqual(['pwd', 'sms', 'mfa']);
  });

  it('refuses a wrong code and still takes the right one; reloading the page sends nothing new', async () => {
    await addUser('cas', 'email', 'cas@example.org');
    const { browser, page } = await signInToCode('cas');
    const code = await mailedCode('cas@example.org');
    const wrong = await submitCode(browser, page, code === '000000' ? '111111' : '000000');
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('That code is not right');
    expect(hasCodeField(wrong)).toBe(true);
    const reload = await browser.navigate(page.url);
    expect(reload.status).toBe(200);
    expect(smtp.to('cas@example.org')).toHaveLength(1);
    expect((await submitCode(browser, reload, ` ${code.slice(0, 3)} ${code.slice(3)} `)).status).toBe(0);
  });

  it('kills a code after five wrong tries; a new code works', async () => {
    await addUser('dirk', 'email', 'dirk@example.org');
    const { browser, page } = await signInToCode('dirk');
    const code = await mailedCode('dirk@example.org');
    const wrong = code === '999999' ? '888888' : '999999';
    const answers: Page[] = [];
    for (let i = 0; i < 5; i++) answers.push(await submitCode(browser, page, wrong));
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401, 401]);
    expect(answers[3]!.body).toContain('That code is not right');
    expect(answers[4]!.body).toContain('Too many wrong codes');
    expect(hasCodeField(answers[4]!)).toBe(false); // only "Send code" is left

    const dead = await submitCode(browser, page, code);
    expect(dead.status).toBe(401);
    expect(dead.body).toContain('Too many wrong codes');

    const resent = await askNewCode(browser, answers[4]!);
    // news, not an error: a status message, the code field not marked wrong, no "Error:" in the title
    expect(resent.status).toBe(200);
    expect(resent.body).toContain(
      '<p id="mfa-notice" class="notice" role="status">A new code is on its way.</p>',
    );
    expect(resent.body).not.toContain('role="alert"');
    expect(resent.body).not.toContain('aria-invalid');
    expect(resent.body).not.toMatch(/<title>Error/);
    expect(hasCodeField(resent)).toBe(true);
    const fresh = await mailedCode('dirk@example.org');
    expect((await submitCode(browser, resent, fresh)).status).toBe(0);
  });

  it('limits sending: the sixth code within the window is refused and nothing is sent', async () => {
    await addUser('eef', 'email', 'eef@example.org');
    const { browser, page } = await signInToCode('eef');
    await mailedCode('eef@example.org');
    let current = page;
    for (let i = 0; i < 4; i++) {
      current = await askNewCode(browser, current);
      expect(current.body).toContain('A new code is on its way.');
      await mailedCode('eef@example.org');
    }
    expect(smtp.to('eef@example.org')).toHaveLength(5);
    const refused = await askNewCode(browser, current);
    expect(refused.status).toBe(401);
    expect(refused.body).toContain('No new code could be sent just now');
    expect(smtp.to('eef@example.org')).toHaveLength(5);
    // the last code sent still works
    const last = codeIn(smtp.to('eef@example.org')[4]!.text);
    expect((await submitCode(browser, refused, last)).status).toBe(0);
  });

  it('says so when the gateway fails, keeps no code, and sends on request once it is back', async () => {
    await addUser('hugo', 'sms', '+32470123456');
    gateway.failWith(503);
    let page: Page;
    let browser: Browser;
    try {
      ({ browser, page } = await signInToCode('hugo'));
    } finally {
      gateway.failWith(undefined);
    }
    expect(page.status).toBe(200);
    expect(page.body).toContain('No code could be sent just now');
    expect(hasCodeField(page)).toBe(false);
    const failure = captured.lines.find((l) => l.includes('could not send a one-time code'));
    expect(failure).toMatch(
      /"kind":"sms".*"to":"\+32 4 \*\*\* \*\* 56".*"error":"webhook http:\/\/127\.0\.0\.1:\d+: HTTP 503/,
    );
    const sent = await askNewCode(browser, page);
    expect(sent.body).toContain('A new code is on its way.');
    expect((await submitCode(browser, sent, await textedCode('+32470123456'))).status).toBe(0);
  });

  it('keeps "remember this device" ticked when the user asks for a new code', async () => {
    await addUser('noor', 'sms', '+31687654321');
    const { browser, page } = await signInToCode('noor');
    await textedCode('+31687654321'); // the first code, never typed
    // the user ticks the box, then presses "Send new code" in the same form
    const form = readForm(page, 'otp-verify', 'action=send');
    expect(form.fields).not.toHaveProperty('remember_device');
    const resent = await browser.navigate(
      form.action,
      { form: { ...form.fields, remember_device: 'yes' } },
      REDIRECT,
    );
    expect(resent.body).toContain('A new code is on its way.');
    expect(resent.body).toMatch(/name="remember_device" type="checkbox" value="yes"[^>]* checked/);
    expect((await submitCode(browser, resent, await textedCode('+31687654321'))).status).toBe(0);
    expect([...browser.cookies.values()].some((c) => c.name === KNOWN_DEVICE_COOKIE)).toBe(true);
  });

  it('takes a code once only, also when two requests race with it', async () => {
    const { userId, factor } = await addUser('fien', 'email', 'fien@example.org');
    const handler = secondFactors(poort.services, captured.log).get('email')!;
    const user = (await poort.services.directory.findById(userId))!;
    const ctx = (binding: string): ChallengeContext => ({ binding, user, factor, ip: '127.0.0.1' });

    await handler.challenge(ctx('once'));
    const code = await mailedCode('fien@example.org');
    expect(await handler.verify(ctx('once'), { code })).toMatchObject({
      ok: true,
      amr: ['otp'],
      strength: 'otp',
    });
    expect(await handler.verify(ctx('once'), { code })).toEqual({ ok: false, reason: 'expired' });

    await handler.challenge(ctx('race'));
    const raced = await mailedCode('fien@example.org');
    const results = await Promise.all(
      Array.from({ length: 4 }, () => handler.verify(ctx('race'), { code: raced })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);

    // A code belongs to its sign-in: another binding's page has its own.
    await handler.challenge(ctx('other'));
    const other = await mailedCode('fien@example.org');
    expect(await handler.verify(ctx('race'), { code: other })).toEqual({ ok: false, reason: 'expired' });
  });

  it('lets a code expire (code_lifetime: 1s)', async () => {
    const quick = await startPoort(otpConfig(smtp, gateway, passwordFile, 'code_lifetime: 1s'), {
      log: captured.log,
    });
    try {
      await quick.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
      const rp = await relyingParty(quick, 'app', 'app-secret-0123456789');
      await addUser('gijs', 'sms', '+447700900123', quick);
      const { browser, page } = await signInToCode('gijs', rp);
      expect(page.body).toContain('+44 7 *** ** 23');
      const code = await textedCode('+447700900123');
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const late = await submitCode(browser, page, code);
      expect(late.status).toBe(401);
      expect(late.body).toContain('That code has expired');
      expect(hasCodeField(late)).toBe(false);
    } finally {
      await quick.stop();
    }
  });

  it('never puts a code in the audit trail or the logs', async () => {
    expect(codes.size).toBeGreaterThanOrEqual(10);
    const events = await poort.services.audit.query({ limit: 10_000 });
    const mfa = events.filter((e) => e.event.action === 'signin.mfa');
    expect(mfa.some((e) => e.event.outcome === 'success' && e.event.details?.factor === 'sms')).toBe(true);
    const sends = events.filter((e) => e.event.action === 'mfa.code_sent');
    expect(sends.some((e) => e.event.outcome === 'success')).toBe(true);
    expect(sends.some((e) => e.event.reason === 'code_not_sent')).toBe(true);
    const trail = JSON.stringify(events);
    const log = captured.lines.join('');
    expect(log).toContain('one-time code sent');
    expect(log).toContain('send limit reached');
    for (const code of codes) {
      expect(mentions(trail, code), `code ${code} in the audit trail`).toBe(false);
      expect(mentions(log, code), `code ${code} in the log`).toBe(false);
    }
    expect(log).not.toContain('smtp password 0451');
    expect(log).not.toContain(SMS_TOKEN);
  });
});
