import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetLinkSender } from '../../src/account/password-reset-message.js';
import type { StoredAuditEvent } from '../../src/audit/event.js';
import { RecoveryCodes } from '../../src/mfa/recovery.js';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { SecurityNoticeSink } from '../../src/notify/security-notices.js';
import { accountSignIn, chooseNewPassword } from '../helpers/account.js';
import { Browser, cookieKey, readForm } from '../helpers/browser.js';
import { runCliOn } from '../helpers/cli.js';
import { relyingParty, signIn } from '../helpers/oidc.js';
import { freePort, startPoort, type TestPoort } from '../helpers/poort.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { lastSeq } from '../helpers/trail.js';

const PASSWORD = 'a passphrase nobody guesses';
const NEW = 'seven purple hedgehogs in Leiden';
const REDIRECT = 'http://127.0.0.1:7951/cb';
const SECRET = 'app-secret-0123456789';
const silent = pino({ level: 'silent' });

// A person hears of every change to the security of their account, so that a change someone else made (an
// attacker with their password, a helpdesk fooled on the phone) does not go unnoticed.
describe('security notices (notifications.security_changes)', { timeout: 90_000 }, () => {
  let smtp: TestSmtpServer;
  let poort: TestPoort;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    poort = await startPoort(`organisation: { name: Acme }
passwords:
  argon2: { memory_kib: 8192, iterations: 1 }
  reset:
    email: { type: smtp, host: 127.0.0.1, port: ${smtp.port}, security: none, from: security@acme.example }
notifications: { security_changes: true }
`);
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
  });
  afterAll(async () => {
    await poort?.stop();
    await smtp?.close();
  });

  const run = (args: string[]) => runCliOn(poort, args);
  const seq = () => lastSeq(poort);
  const noticeSink = (overrides: Partial<ConstructorParameters<typeof SecurityNoticeSink>[0]> = {}) =>
    new SecurityNoticeSink({
      users: poort.services.users,
      sender: resetLinkSender(poort.services.config, silent)!,
      kv: poort.services.kv,
      language: 'en',
      organisation: 'Acme',
      log: silent,
      ...overrides,
    });

  it('tells of a password changed on the account page, and of nothing after a sign-in', async () => {
    await poort.addUser({
      username: 'hanna',
      password: PASSWORD,
      email: 'hanna@acme.example',
      name: 'Hanna',
    });
    const app = await relyingParty(poort, 'app', SECRET);
    await signIn(app, new Browser(), { username: 'hanna', password: PASSWORD }, { redirectUri: REDIRECT });
    const browser = new Browser();
    const { page } = await accountSignIn(poort, 'hanna', PASSWORD, { browser });
    const href = /<a href="([^"]+)">Change your password<\/a>/.exec(page.body)![1]!;
    const form = readForm(await browser.navigate(new URL(href, page.url).href), 'account-password-form');
    const { signout_everywhere: _keep, ...fields } = form.fields;
    const done = await browser.request(form.action, {
      form: { ...fields, current: PASSWORD, password: NEW, repeat: NEW },
    });
    expect(done.status).toBe(303);

    const mail = await smtp.waitFor('hanna@acme.example', 10_000);
    expect(mail.from).toBe('security@acme.example');
    expect(mail.subject).toBe('Changes to the security of your Acme account');
    expect(mail.text).toContain('Hello Hanna,');
    expect(mail.text).toContain('These changes were made to your account hanna (times in UTC):');
    expect(mail.text).toMatch(
      /^- \d{4}-\d\d-\d\d \d\d:\d\d: your password was changed, on your account page\.$/m,
    );
    expect(mail.text).toContain('Was it not you? Tell the helpdesk at once');
    expect(mail.text).not.toContain(NEW);
    // the sign-ins (the application's and the account page's) were not told: one message only
    await new Promise((r) => setTimeout(r, 1500));
    expect(smtp.to('hanna@acme.example')).toHaveLength(1);
  });

  it('tells of what the helpdesk did with the CLI, the changes of one command in one message', async () => {
    const id = await poort.addUser({ username: 'ivo', password: PASSWORD, email: 'ivo@acme.example' });
    await poort.services.factors.add({ userId: id, kind: 'totp', name: 'Phone', secret: newTotpSecret() });
    await new RecoveryCodes(poort.services.db, poort.services.hasher).generate(id);
    const reset = await run(['mfa', 'reset', 'ivo']);
    expect(reset.code).toBe(0);
    const mail = await smtp.waitFor('ivo@acme.example', 10_000);
    const lines = mail.text.split('\n').filter((l) => l.startsWith('- '));
    expect(lines).toEqual([
      expect.stringMatching(/: the helpdesk removed a sign-in method: Authenticator app “Phone”\.$/),
      expect.stringMatching(/: the helpdesk removed your recovery codes\.$/),
    ]);
  });

  it('tells of a new password chosen with a reset link', async () => {
    await poort.addUser({ username: 'jet', password: PASSWORD, email: 'jet@acme.example' });
    const printed = await run(['user', 'reset-password', 'jet', '--print-link']);
    const link = /https?:\/\/\S+/.exec(printed.stdout)![0];
    const browser = new Browser();
    const done = await chooseNewPassword(browser, await browser.navigate(link), NEW);
    expect(done.body).toContain('Your password has been changed');
    const mail = await smtp.waitFor('jet@acme.example', 10_000);
    expect(mail.text).toMatch(/: a new password was chosen with a password reset link\.$/m);
  });

  it('is sent by one node only, is tried again after a failed send, and not at all a day late', async () => {
    const id = await poort.addUser({ username: 'kees', password: PASSWORD, email: 'kees@acme.example' });
    const since = await seq();
    expect((await run(['mfa', 'recovery-codes', 'kees'])).code).toBe(0);
    await smtp.waitFor('kees@acme.example', 10_000); // told by the server's own sink
    const batch: StoredAuditEvent[] = (await poort.services.audit.readAfter(since, 100)).filter(
      (e) => e.event.subject?.id === id,
    );
    expect(batch.map((e) => e.event.action)).toEqual(['mfa.recovery_codes.generated']);

    // another node ships the same events: the notice is claimed already
    await noticeSink().deliver(batch);
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.to('kees@acme.example')).toHaveLength(1);

    // a change no node could send yet: the failed send lets the claim go, and the next try sends it
    expect((await run(['mfa', 'recovery-codes', 'kees'])).code).toBe(0);
    const second = (await poort.services.audit.readAfter(batch[0]!.seq, 100)).filter(
      (e) => e.event.subject?.id === id,
    );
    await smtp.waitFor('kees@acme.example', 10_000);
    await poort.services.kv.delete(`security-notice:${second[0]!.event.id}`); // as if no node had sent it
    const closed = await freePort();
    const { config } = poort.services;
    const email = config.passwords.reset.email!;
    if (email.type !== 'smtp') throw new Error('this test configures an SMTP sender');
    const unreachable = resetLinkSender(
      {
        ...config,
        passwords: {
          ...config.passwords,
          reset: { ...config.passwords.reset, email: { ...email, port: closed } },
        },
      },
      silent,
    )!;
    await expect(noticeSink({ sender: unreachable }).deliver(second)).rejects.toThrow();
    await noticeSink().deliver(second);
    const retried = await smtp.waitFor('kees@acme.example', 10_000);
    expect(retried.text).toMatch(
      /: the helpdesk made new recovery codes; the earlier ones no longer work\.$/m,
    );

    // a day later nobody is told any more
    await poort.services.kv.delete(`security-notice:${second[0]!.event.id}`);
    const late = Date.parse(second[0]!.event.time) + 25 * 3600_000;
    await noticeSink({ now: () => late }).deliver(second);
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.to('kees@acme.example')).toHaveLength(3);
  });
});

// Someone else signing in with a person's password shows up as a sign-in with a browser the account never used.
describe('new sign-in notices (notifications.new_sign_ins)', { timeout: 90_000 }, () => {
  let smtp: TestSmtpServer;
  let poort: TestPoort;
  let app: Awaited<ReturnType<typeof relyingParty>>;
  const DUTCH_ADDRESS = '145.97.39.155';
  const FIREFOX_ON_WINDOWS =
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';

  beforeAll(async () => {
    smtp = await startSmtpServer();
    poort = await startPoort(`organisation: { name: Acme, default_language: nl }
server: { trust_proxy: [127.0.0.1/32, "::1/128"] }
passwords:
  argon2: { memory_kib: 8192, iterations: 1 }
  reset:
    email: { type: smtp, host: 127.0.0.1, port: ${smtp.port}, security: none, from: security@acme.example }
notifications: { new_sign_ins: true }
`);
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    app = await relyingParty(poort, 'app', SECRET);
    await poort.addUser({ username: 'noor', password: PASSWORD, email: 'noor@acme.example', name: 'Noor' });
  });
  afterAll(async () => {
    await poort?.stop();
    await smtp?.close();
  });

  const signInWith = (browser: Browser) =>
    signIn(app, browser, { username: 'noor', password: PASSWORD }, { redirectUri: REDIRECT });

  it('tells of a sign-in with a browser the account had not used, once per browser, in the organisation’s language', async () => {
    const laptop = new Browser({ 'x-forwarded-for': DUTCH_ADDRESS, 'user-agent': FIREFOX_ON_WINDOWS });
    const from = await lastSeq(poort);
    await signInWith(laptop);
    const mail = await smtp.waitFor('noor@acme.example', 10_000);
    expect(mail.subject).toBe('Nieuwe aanmelding met uw account bij Acme');
    expect(mail.text).toContain('Beste Noor,');
    expect(mail.text).toContain(
      'Met uw account noor is aangemeld in een browser waarin dat nog niet eerder gebeurde (tijden in UTC):',
    );
    expect(mail.text).toMatch(
      new RegExp(
        `^- \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d: een aanmelding met Firefox op Windows, vanuit Nederland \\(adres ${DUTCH_ADDRESS.replace(/\./g, '\\.')}\\)\\.$`,
        'm',
      ),
    );
    const [completed] = await poort.services.audit.query({ action: 'signin.completed', limit: 1 });
    expect(completed!.seq).toBeGreaterThan(from);
    expect(completed!.event.details).toMatchObject({ new_browser: true });

    // the same browser again, signed out (its session cookies gone, the year-long one kept): nothing; the cookie
    // names no user, and does not count in another browser
    for (const [key, cookie] of laptop.cookies) if (cookie.name !== 'poort_seen') laptop.cookies.delete(key);
    await signInWith(laptop);
    const [again] = await poort.services.audit.query({ action: 'signin.completed', limit: 1 });
    expect(again!.seq).toBeGreaterThan(completed!.seq);
    expect(again!.event.details).not.toHaveProperty('new_browser');
    const seen = [...laptop.cookies.values()].find((c) => c.name === 'poort_seen')!;
    expect(seen).toBeDefined();
    expect(Buffer.from(seen.value.split('.')[0]!, 'base64url').toString()).not.toContain('noor');
    const copied = new Browser({ 'user-agent': 'curl/8.5.0' });
    copied.cookies.set(cookieKey(seen.host, seen.name, seen.path), { ...seen });
    await signInWith(copied);
    const other = await smtp.waitFor('noor@acme.example', 10_000);
    expect(other.text).toMatch(
      /: een aanmelding met een onbekende browser, vanuit een onbekende plaats \(adres /,
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(smtp.to('noor@acme.example')).toHaveLength(2);
  });

  it('tells nothing of changes where only new sign-ins are told', async () => {
    await poort.addUser({ username: 'olaf', password: PASSWORD, email: 'olaf@acme.example' });
    const run = await runCliOn(poort, ['user', 'set-password', 'olaf', '--password-stdin'], {
      input: `${NEW}\n`,
    });
    expect(run.code, run.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 2000));
    expect(smtp.to('olaf@acme.example')).toHaveLength(0);
  });
});
