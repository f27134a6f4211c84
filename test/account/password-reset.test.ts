import fs from 'node:fs';
import path from 'node:path';
import * as oidc from 'openid-client';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseNewPassword } from '../helpers/account.js';
import { Browser, readForm } from '../helpers/browser.js';
import { runCliOn, type CliResult } from '../helpers/cli.js';
import {
  authorizeInBrowser,
  expectSignedOut as expectSignedOutAt,
  passwordSignsIn,
  relyingParty,
  signIn,
  startAuthorization,
} from '../helpers/oidc.js';
import { freePort, startPoort, type TestPoort } from '../helpers/poort.js';
import { mailedLink as mailedLinkTo, startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { eventsSince as trailSince, lastSeq as trailHead } from '../helpers/trail.js';

const REDIRECT = 'http://127.0.0.1:7905/cb';
const SECRET = 'app-secret-0123456789';
const OLD = 'the old passphrase nobody guesses';
const NEW = 'seven purple hedgehogs in Leiden';

// The helpdesk uses the CLI on the store of a running server; the user follows the e-mailed link in a browser.
describe('password reset by the helpdesk', { timeout: 90_000 }, () => {
  let smtp: TestSmtpServer;
  let poort: TestPoort;
  let app: oidc.Configuration;

  const run = (args: string[], config?: string): Promise<CliResult> =>
    runCliOn(poort, args, config ? { config } : {});

  beforeAll(async () => {
    smtp = await startSmtpServer();
    poort = await startPoort(`organisation: { name: Acme }
passwords:
  argon2: { memory_kib: 8192, iterations: 1 }
  reset:
    email: { type: smtp, host: 127.0.0.1, port: ${smtp.port}, security: none, from: helpdesk@acme.example }
`);
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    app = await relyingParty(poort, 'app', SECRET);
  });
  afterAll(async () => {
    await poort?.stop();
    await smtp?.close();
  });

  const lastSeq = () => trailHead(poort);
  const eventsSince = (seq: number) => trailSince(poort, seq);

  const choose = chooseNewPassword;

  const canSignIn = (username: string, password: string) =>
    passwordSignsIn(app, REDIRECT, { username, password });

  const expectSignedOut = (browser: Browser, before: oidc.TokenEndpointResponse, userId: string) =>
    expectSignedOutAt(app, REDIRECT, browser, before, userId);

  const mailedLink = (to: string) => mailedLinkTo(smtp, to);

  it('e-mails a link where the user chooses a new password under the policy, once, and signs in with it', async () => {
    const aliceId = await poort.addUser({
      username: 'alice',
      password: OLD,
      email: 'alice@acme.example',
      name: 'Alice',
    });
    // Someone is signed in as alice before the reset: a browser session and the application's tokens.
    const earlier = new Browser();
    const { tokens: before } = await signIn(
      app,
      earlier,
      { username: 'alice', password: OLD },
      { redirectUri: REDIRECT },
    );
    expect(before.refresh_token).toBeTruthy();
    const since = await lastSeq();
    const issued = await run(['user', 'reset-password', 'alice']);
    expect(issued.stderr).toBe('');
    expect(issued.code).toBe(0);
    expect(issued.stdout).toContain('Sent alice a link to choose a new password, to alice@acme.example.');
    const mail = await mailedLink('alice@acme.example');
    expect(mail.subject).toBe('Choose a new password for Acme');
    expect(mail.text).toContain('Hello Alice');
    expect(mail.link.startsWith(`${poort.issuer}/account/password/reset/`)).toBe(true);
    expect(issued.stdout).not.toContain(mail.link.split('/').pop()!);

    const browser = new Browser();
    const page = await browser.navigate(mail.link);
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toContain('no-store');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.body).toContain('<html lang="en">');
    expect(page.body).toContain('Choose a new password for alice.');
    expect(page.body).toMatch(/<label for="password">New password<\/label>/);
    expect(page.body).toMatch(/<label for="repeat">Repeat the new password<\/label>/);
    expect(page.body).toMatch(
      /<input id="password" name="password" type="password" autocomplete="new-password"/,
    );
    expect(readForm(page).fields.csrf).toMatch(/^[\w-]{43}$/);

    const mismatch = await choose(browser, page, NEW, `${NEW}!`);
    expect(mismatch.status).toBe(400);
    expect(mismatch.body).toMatch(/<div id="reset-error" class="alert" role="alert">/);
    expect(mismatch.body).toContain('The two passwords are not the same.');
    expect(mismatch.body).toContain('aria-invalid="true"');

    const refused = await choose(browser, mismatch, 'alice!');
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('This password cannot be used:');
    expect(refused.body).toContain('It must have at least 12 characters.');
    expect(refused.body).toContain('It must not contain your username or e-mail address.');
    expect(await canSignIn('alice', OLD)).toBe(true); // nothing changed yet

    const done = await choose(browser, refused, NEW);
    expect(done.status).toBe(200);
    expect(done.body).toContain('Your password has been changed');
    const again = await new Browser().navigate(mail.link);
    expect(again.status).toBe(400);
    expect(again.body).toContain('This link does not work');
    expect(await canSignIn('alice', OLD)).toBe(false);
    expect(await canSignIn('alice', NEW)).toBe(true);

    // The reset signed alice out everywhere.
    await expectSignedOut(earlier, before, aliceId);
    // ... while a sign-in with the new password gets tokens that do
    const { tokens: after } = await signIn(
      app,
      earlier,
      { username: 'alice', password: NEW },
      { redirectUri: REDIRECT },
    );
    expect(await oidc.tokenIntrospection(app, after.access_token)).toMatchObject({
      active: true,
      sub: aliceId,
    });
    expect((await oidc.refreshTokenGrant(app, after.refresh_token!)).access_token).toBeTruthy();

    const events = await eventsSince(since);
    const resets = events.filter((e) => e.action.startsWith('password.reset.'));
    expect(resets.map((e) => [e.action, e.outcome, e.reason ?? null])).toEqual([
      ['password.reset.requested', 'success', null],
      ['password.reset.completed', 'failure', 'password_mismatch'],
      ['password.reset.completed', 'failure', 'password_policy'],
      ['password.reset.completed', 'success', null],
      ['password.reset.completed', 'failure', 'invalid_link'],
    ]);
    expect(resets[0]).toMatchObject({
      actor: { type: 'cli' },
      subject: { username: 'alice' },
      details: { delivery: 'email', ttl_seconds: 86400, withdrew_earlier: false },
    });
    expect(resets[2]!.details).toEqual({ violations: ['too_short', 'contains_user_info'] });
    expect(resets[3]).toMatchObject({
      details: { signed_out_everywhere: true },
      actor: { type: 'user', name: 'alice' },
      subject: { username: 'alice', known: true },
      source: { ip: '127.0.0.1' },
    });
    // one correlation id joins the attempts on one link; the link itself is nowhere in the trail
    expect(new Set(resets.slice(1).map((e) => e.correlation)).size).toBe(1);
    const trail = JSON.stringify(events);
    for (const secret of [mail.link.split('/').pop()!, ...mail.link.split('/').pop()!.split('.'), NEW])
      expect(trail).not.toContain(secret);
  });

  it('lets the user in at once after a reset, however often a guesser tried the account', async () => {
    await poort.addUser({ username: 'bram', password: OLD, email: 'bram@acme.example' });
    for (let i = 0; i < 6; i++) await canSignIn('bram', `wrong guess number ${i}`);
    const throttled = await authorizeInBrowser(
      new Browser(),
      await startAuthorization(app, { redirectUri: REDIRECT }),
      { username: 'bram', password: OLD },
    );
    expect(throttled.status).toBe(429);

    expect((await run(['user', 'reset-password', 'bram'])).code).toBe(0);
    const browser = new Browser();
    const page = await browser.navigate((await mailedLink('bram@acme.example')).link);
    expect((await choose(browser, page, NEW)).status).toBe(200);
    const { tokens } = await signIn(
      app,
      new Browser(),
      { username: 'bram', password: NEW },
      { redirectUri: REDIRECT },
    );
    expect(tokens.claims()!.sub).toBeTruthy();
  });

  it('prints the link with --print-link, in Dutch for a Dutch browser; a newer link withdraws the older', async () => {
    await poort.addUser({ username: 'carla', password: OLD, email: 'carla@acme.example' });
    const first = await run(['user', 'reset-password', 'carla', '--print-link', '--expires', '2h']);
    expect(first.code).toBe(0);
    const firstLink = /https?:\/\/\S+/.exec(first.stdout)![0];
    const second = await run(['user', 'reset-password', 'carla', '--print-link']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('The earlier link no longer works.');
    const secondLink = /https?:\/\/\S+/.exec(second.stdout)![0];
    expect(smtp.to('carla@acme.example')).toHaveLength(0);

    const dutch = new Browser({ 'accept-language': 'nl-NL,nl;q=0.9' });
    expect((await dutch.navigate(firstLink)).body).toContain('Deze link werkt niet');
    const page = await dutch.navigate(secondLink);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<html lang="nl">');
    expect(page.body).toContain('<label for="password">Nieuw wachtwoord</label>');

    // a form posted without the page's CSRF token changes nothing
    const form = readForm(page);
    const forged = await dutch.navigate(form.action, {
      form: { ...form.fields, csrf: 'forged', password: NEW, repeat: NEW },
    });
    expect(forged.status).toBe(403);
    expect(await canSignIn('carla', OLD)).toBe(true);
    expect((await choose(dutch, page, NEW)).body).toContain('Uw wachtwoord is gewijzigd');
    expect(await canSignIn('carla', NEW)).toBe(true);
  });

  it('signs a user out everywhere with poort user sign-out, until they sign in again', async () => {
    const fienId = await poort.addUser({ username: 'fien', password: OLD, email: 'fien@acme.example' });
    const browser = new Browser();
    const { tokens } = await signIn(
      app,
      browser,
      { username: 'fien', password: OLD },
      { redirectUri: REDIRECT },
    );
    const sso = await startAuthorization(app, { redirectUri: REDIRECT });
    expect((await browser.navigate(sso.url.href, {}, REDIRECT)).status).toBe(0); // single sign-on

    const since = await lastSeq();
    const result = await run(['user', 'sign-out', 'fien']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Signed fien out everywhere');
    expect((await run(['user', 'show', 'fien'])).stdout).toMatch(
      /signed out everywhere:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z/,
    );
    expect((await eventsSince(since)).find((e) => e.action === 'logout')).toMatchObject({
      actor: { type: 'cli' },
      subject: { id: fienId, username: 'fien' },
      details: { everywhere: true },
    });

    await expectSignedOut(browser, tokens, fienId);
    // the same password still works: signing out is not a lock-out
    await signIn(app, browser, { username: 'fien', password: OLD }, { redirectUri: REDIRECT });
    expect((await run(['user', 'sign-out', 'nobody'])).code).toBe(1);
  });

  it('sets a password and signs the user out everywhere with poort user set-password --sign-out', async () => {
    const joostId = await poort.addUser({ username: 'joost', password: OLD, email: 'joost@acme.example' });
    const browser = new Browser();
    const { tokens } = await signIn(
      app,
      browser,
      { username: 'joost', password: OLD },
      { redirectUri: REDIRECT },
    );
    const since = await lastSeq();
    const result = await runCliOn(
      poort,
      ['user', 'set-password', 'joost', '--password-stdin', '--sign-out'],
      {
        input: `${NEW}\n`,
      },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Set the password of joost and signed them out everywhere');
    expect((await eventsSince(since)).find((e) => e.action === 'password.changed')).toMatchObject({
      outcome: 'success',
      actor: { type: 'cli' },
      subject: { id: joostId, username: 'joost' },
      details: { signed_out_everywhere: true },
    });
    await expectSignedOut(browser, tokens, joostId);
    expect(await canSignIn('joost', OLD)).toBe(false);
    expect(await canSignIn('joost', NEW)).toBe(true);

    // without --sign-out, sessions stay (the helpdesk sets a first password, or one the user asked for)
    const { tokens: kept } = await signIn(
      app,
      new Browser(),
      { username: 'joost', password: NEW },
      { redirectUri: REDIRECT },
    );
    const plain = await runCliOn(poort, ['user', 'set-password', 'joost', '--password-stdin'], {
      input: `${OLD}\n`,
    });
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toContain('signed them out');
    expect(await oidc.tokenIntrospection(app, kept.access_token)).toMatchObject({ active: true });
  });

  it('refuses an expired link', async () => {
    await poort.addUser({ username: 'daan', password: OLD, email: 'daan@acme.example' });
    const issued = await run(['user', 'reset-password', 'daan', '--print-link', '--expires', '1s']);
    expect(issued.code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const page = await new Browser().navigate(/https?:\/\/\S+/.exec(issued.stdout)![0]);
    expect(page.status).toBe(400);
    expect(page.body).toContain('This link does not work');
  });

  it('stops with a clear message: no sender, an unknown user, a bad lifetime', async () => {
    await poort.addUser({ username: 'eva', password: OLD, email: 'eva@acme.example' });
    const file = path.join(poort.dir, 'poort.yaml');
    const senderless = path.join(poort.dir, 'senderless.yaml');
    const config = YAML.parse(fs.readFileSync(file, 'utf8')) as { passwords: { reset?: unknown } };
    delete config.passwords.reset;
    fs.writeFileSync(senderless, YAML.stringify(config));
    const noSender = await run(['user', 'reset-password', 'eva'], senderless);
    expect(noSender.code).toBe(1);
    expect(noSender.stderr).toContain(
      'no e-mail sender is configured (passwords.reset.email or mfa.otp.email): give --print-link',
    );

    // A sender that cannot be reached: the command fails, says so, records it, and the link it made never works.
    const unreachable = path.join(poort.dir, 'unreachable.yaml');
    const broken = YAML.parse(fs.readFileSync(file, 'utf8')) as {
      passwords: { reset: { email: { port: number } } };
    };
    broken.passwords.reset.email.port = await freePort();
    fs.writeFileSync(unreachable, YAML.stringify(broken));
    const since = await lastSeq();
    const unsent = await run(['user', 'reset-password', 'eva'], unreachable);
    expect(unsent.code).toBe(1);
    expect(unsent.stderr).toContain('the link could not be sent to eva@acme.example');
    const requested = (await eventsSince(since)).filter((e) => e.action === 'password.reset.requested');
    expect(requested).toMatchObject([
      { outcome: 'failure', reason: 'not_sent', subject: { username: 'eva' } },
    ]);
    const printed = await run(['user', 'reset-password', 'eva', '--print-link']);
    expect(printed.stdout).not.toContain('The earlier link no longer works.'); // the unsent one was withdrawn

    const unknown = await run(['user', 'reset-password', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('nobody');

    for (const expires of ['0', 'soon', '31d']) {
      const bad = await run(['user', 'reset-password', 'eva', '--expires', expires]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('expected a lifetime such as 30m, 24h or 7d (at most 30d)');
    }
    expect(smtp.to('eva@acme.example')).toHaveLength(0);
  });

  it('answers a malformed or unknown link with the same page, never an error', async () => {
    for (const token of ['x', 'A'.repeat(22) + '.' + 'B'.repeat(43), '%00', 'a'.repeat(5000)]) {
      const page = await new Browser().navigate(`${poort.issuer}/account/password/reset/${token}`);
      expect(page.status).toBe(400);
      expect(page.body).toContain('This link does not work');
    }
  });
});
