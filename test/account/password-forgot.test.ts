import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { chooseNewPassword } from '../helpers/account.js';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import {
  expectSignedOut,
  passwordSignsIn,
  relyingParty,
  signIn,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { mailedLink as mailedLinkTo, startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { eventAfter, eventsSince as trailSince, lastSeq as trailHead } from '../helpers/trail.js';

const REDIRECT = 'http://127.0.0.1:7906/cb';
const SECRET = 'app-secret-0123456789';
const OLD = 'the old passphrase nobody guesses';
const NEW = 'seven purple hedgehogs in Leiden';
const FORGOT = '/account/password/forgot';

// Someone who forgot their password asks for a link on the sign-in page and follows it from their mailbox.
describe('self-service password reset ("Forgot your password?")', { timeout: 120_000 }, () => {
  let smtp: TestSmtpServer;
  let poort: TestPoort;
  let app: oidc.Configuration;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    poort = await startPoort(`organisation: { name: Acme }
passwords:
  argon2: { memory_kib: 8192, iterations: 1 }
  reset:
    email: { type: smtp, host: 127.0.0.1, port: ${smtp.port}, security: none, from: helpdesk@acme.example }
    self_service:
      enabled: true
      link_lifetime: 30m
      account: { free_attempts: 2, base_delay: 10m, max_delay: 1h, window: 1h }
      ip: { free_attempts: 40, base_delay: 1m, max_delay: 1h, window: 1h }
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

  /** The `password.reset.requested` events after `seq`, once there are `n` of them (they follow the answer). */
  async function requestsSince(seq: number, n: number): Promise<AuditEvent[]> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const found = (await eventsSince(seq)).filter((e) => e.action === 'password.reset.requested');
      if (found.length >= n) return found;
      if (Date.now() > deadline) throw new Error(`${found.length} of ${n} reset requests recorded`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Opens the page (from the sign-in page's link, as a person does) and sends `name`. */
  async function ask(browser: Browser, name: string): Promise<Page> {
    const page = await browser.navigate(`${poort.issuer}${FORGOT}`);
    expect(page.status).toBe(200);
    const form = readForm(page, 'forgot-form');
    return browser.navigate(form.action, { form: { ...form.fields, username: name } });
  }

  const mailedLink = (to: string) => mailedLinkTo(smtp, to);

  const choose = chooseNewPassword;

  const canSignIn = (username: string, password: string) =>
    passwordSignsIn(app, REDIRECT, { username, password });

  it('is linked from the sign-in page, in the visitor’s language, with a labelled field and a SameSite cookie', async () => {
    const dutch = new Browser({ 'accept-language': 'nl-NL,nl;q=0.9' });
    const pending = await startAuthorization(app, { redirectUri: REDIRECT });
    const signin = await dutch.navigate(pending.url.href, {}, REDIRECT);
    const uid = /\/signin\/([\w-]+)\/login/.exec(signin.body)![1]!;
    expect(signin.body).toContain(`<a href="${FORGOT}?from=${uid}">Wachtwoord vergeten?</a>`);
    // the page, and the answer after it, lead back to this sign-in
    const forgot = await dutch.navigate(`${poort.issuer}${FORGOT}?from=${uid}`);
    expect(forgot.body).toContain(`<a href="/signin/${uid}">Terug naar inloggen</a>`);
    const form = readForm(forgot, 'forgot-form');
    expect(form.fields.from).toBe(uid);
    const sent = await dutch.navigate(form.action, { form: { ...form.fields, username: 'nobody-at-all' } });
    expect(sent.body).toContain(`<a href="/signin/${uid}">Terug naar inloggen</a>`);
    const back = await dutch.navigate(`${poort.issuer}/signin/${uid}`);
    expect(back.status).toBe(200);
    expect(back.body).toContain('<label for="password">Wachtwoord</label>');
    // only ever to a sign-in of this Poort
    for (const from of ['//evil.example/x', '../account', 'https:evil', 'a b'])
      expect(
        (await dutch.navigate(`${poort.issuer}${FORGOT}?from=${encodeURIComponent(from)}`)).body,
      ).not.toContain('Terug naar inloggen');

    const res = await fetch(`${poort.issuer}${FORGOT}`, { headers: { 'accept-language': 'nl' } });
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toContain('no-store');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.getSetCookie()).toEqual([
      expect.stringMatching(
        /^poort_forgot=[\w-]{22}; Path=\/account\/password\/forgot; Max-Age=3600; HttpOnly; SameSite=Lax$/,
      ),
    ]);
    expect(body).toContain('<html lang="nl">');
    expect(body).toContain('<title>Wachtwoord vergeten? — Acme</title>');
    expect(body).toContain('<label for="username">Gebruikersnaam of e-mailadres</label>');
    expect(body).toMatch(/<input id="username" name="username" type="text" value="" autocomplete="username"/);
  });

  it('e-mails the account a link in the visitor’s language; with it they choose a new password and are signed out everywhere', async () => {
    const aliceId = await poort.addUser({
      username: 'alice',
      password: OLD,
      email: 'alice@acme.example',
      name: 'Alice',
    });
    const earlier = new Browser();
    const { tokens: before } = await signIn(
      app,
      earlier,
      { username: 'alice', password: OLD },
      { redirectUri: REDIRECT },
    );
    const since = await lastSeq();

    const sent = await ask(new Browser(), 'alice');
    expect(sent.status).toBe(200);
    expect(sent.body).toContain('<h1>Check your e-mail</h1>');
    expect(sent.body).toMatch(/<p role="status">If the name you typed belongs to an account/);
    const mail = await mailedLink('alice@acme.example');
    expect(mail.subject).toBe('Choose a new password for Acme');
    expect(mail.text).toContain('Hello Alice');
    expect(mail.text).toContain('Someone, probably you, asked on the sign-in page of Acme');
    expect(mail.text).not.toContain('helpdesk of Acme has asked');
    expect(mail.link.startsWith(`${poort.issuer}/account/password/reset/`)).toBe(true);

    const browser = new Browser();
    const page = await browser.navigate(mail.link);
    expect(page.status).toBe(200);
    expect(page.body).toContain(
      'Choose a new password for alice. You asked for this link on the sign-in page; it works once.',
    );
    expect(await canSignIn('alice', OLD)).toBe(true); // asking changes nothing
    expect((await choose(browser, page, NEW)).body).toContain('Your password has been changed');
    expect(await canSignIn('alice', OLD)).toBe(false);
    expect(await canSignIn('alice', NEW)).toBe(true);
    await expectSignedOut(app, REDIRECT, earlier, before, aliceId);
    // its session ended for the applications too (back-channel logout), recorded a moment later
    await eventAfter(poort, since, (e) => e.action === 'logout.backchannel' && e.subject?.id === aliceId);

    const [requested] = await requestsSince(since, 1);
    expect(requested).toMatchObject({
      outcome: 'success',
      actor: { type: 'user' },
      subject: { id: aliceId, username: 'alice', known: true },
      source: { ip: '127.0.0.1' },
      details: { via: 'self_service', delivery: 'email', ttl_seconds: 1800, withdrew_earlier: false },
    });
    expect(requested!.actor.id).toBeUndefined(); // whoever typed the name: not known to be alice
    const token = mail.link.split('/').pop()!;
    const trail = JSON.stringify(await eventsSince(since));
    for (const secret of [token, ...token.split('.'), NEW]) expect(trail).not.toContain(secret);

    // The answer does not wait for the mail server (an existing account answers as fast as an unknown name): with
    // the server holding its answer, the page is there, and the request is recorded once the server answered.
    const release = smtp.hold();
    const sinceHeld = await lastSeq();
    try {
      expect((await ask(new Browser(), 'alice')).status).toBe(200);
      await smtp.waitFor('alice@acme.example');
      await new Promise((r) => setTimeout(r, 200));
      expect(await eventsSince(sinceHeld)).toEqual([]);
    } finally {
      release();
    }
    expect(await requestsSince(sinceHeld, 1)).toMatchObject([
      { outcome: 'success', details: { withdrew_earlier: false } },
    ]);

    // By e-mail address, in any case, from a Dutch browser: the e-mail and the page are in Dutch.
    const dutch = new Browser({ 'accept-language': 'nl' });
    expect((await ask(dutch, 'ALICE@Acme.Example')).body).toContain('<h1>Kijk in uw e-mail</h1>');
    const dutchMail = await mailedLink('alice@acme.example');
    expect(dutchMail.text).toContain('Beste Alice');
    expect(dutchMail.text).toContain('Iemand, waarschijnlijk u, heeft op de inlogpagina van Acme');
    const dutchPage = await dutch.navigate(dutchMail.link);
    expect(dutchPage.body).toContain('U vroeg deze link aan op de inlogpagina');
    // the used link now points the way to a new one
    const used = await dutch.navigate(mail.link);
    expect(used.status).toBe(400);
    expect(used.body).toContain(`<a href="${FORGOT}">Wachtwoord vergeten?</a>`);
  });

  it('answers every name alike and sends only to an enabled local account it names alone; the trail says why not', async () => {
    await poort.addUser({ username: 'bob', password: OLD, email: 'bob@acme.example' });
    await poort.services.users.setEnabled('bob', false);
    await poort.addUser({ username: 'carol', password: OLD, email: 'shared@acme.example' });
    await poort.addUser({ username: 'dave', password: OLD, email: 'Shared@acme.example' });
    const erinId = await poort.addUser({ username: 'erin', password: OLD, email: 'erin@acme.example' });
    // a user of the LDAP directory: the password is the directory's, which no link could change
    await poort.services.users.createExternal('00000000-0000-4000-8000-00000000000f', 'ldap', {
      externalId: 'f-entry',
      username: 'fleur',
      email: 'fleur@acme.example',
      name: null,
      givenName: null,
      familyName: null,
    });
    const since = await lastSeq();

    const names = ['nobody', 'bob', 'shared@acme.example', 'fleur', 'erin'];
    const answers = [];
    for (const name of names) {
      const page = await ask(new Browser(), name);
      answers.push({ status: page.status, body: page.body, cookies: page.headers.getSetCookie() });
    }
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(answers[0]!.status).toBe(200);

    // each request's work runs after its answer, so they may finish in any order: in the order of the names
    const events = (await requestsSince(since, 5)).sort(
      (a, b) => names.indexOf(a.subject!.username!) - names.indexOf(b.subject!.username!),
    );
    expect(events.map((e) => [e.subject?.username, e.outcome, e.reason ?? null, e.subject?.known])).toEqual([
      ['nobody', 'failure', 'unknown_user', false],
      ['bob', 'failure', 'disabled', true],
      ['shared@acme.example', 'failure', 'ambiguous_email', false],
      ['fleur', 'failure', 'directory_password', true],
      ['erin', 'success', null, true],
    ]);
    expect(events[4]!.subject?.id).toBe(erinId);
    for (const e of events) expect(e.details).toMatchObject({ via: 'self_service' });
    // the e-mail to erin went out before her event was recorded: no other link was sent
    expect(smtp.to('erin@acme.example')).toHaveLength(1);
    expect(smtp.to('bob@acme.example')).toHaveLength(0);
    // fleur is told where her password is kept, not given a link
    const [told] = smtp.to('fleur@acme.example');
    expect(told?.text).toContain('Your password is not kept by that sign-in page');
    expect(told?.text).not.toContain('http');
    expect(events[3]!.details).toMatchObject({ directory: 'ldap', told: true });
    expect(smtp.to('shared@acme.example')).toHaveLength(0);
    expect(smtp.to('Shared@acme.example')).toHaveLength(0);
  });

  it('limits requests per name as typed, known or not, and says so the same way for both', async () => {
    await poort.addUser({ username: 'frank', password: OLD, email: 'frank@acme.example' });
    const since = await lastSeq();
    const statuses = async (name: string) => {
      const pages = [];
      for (let i = 0; i < 3; i++) pages.push(await ask(new Browser(), name));
      return pages;
    };
    const known = await statuses('frank');
    const unknown = await statuses('ghost');
    expect(known.map((p) => p.status)).toEqual([200, 200, 429]);
    expect(unknown.map((p) => p.status)).toEqual([200, 200, 429]);
    const refused = known[2]!;
    expect(refused.headers.get('retry-after')).toMatch(/^(599|600)$/);
    expect(refused.body).toMatch(/<div id="forgot-error" class="alert" role="alert">/);
    expect(refused.body).toContain(
      'Too many requests for this name or from this network. Try again in 10 min.',
    );
    expect(refused.body).toContain('aria-invalid="true"');
    expect(unknown[2]!.body.replace(/ghost/g, 'frank').replace(/value="[\w-]{43}"/, '')).toBe(
      refused.body.replace(/value="[\w-]{43}"/, ''),
    );

    const events = await requestsSince(since, 6);
    expect(
      events.filter((e) => e.reason === 'throttled').map((e) => [e.subject?.username, e.outcome]),
    ).toEqual([
      ['frank', 'denied'],
      ['ghost', 'denied'],
    ]);
    expect(smtp.to('frank@acme.example')).toHaveLength(2);
  });

  it('refuses a form without the token bound to its browser’s cookie, and an empty name, sending nothing', async () => {
    const since = await lastSeq();
    const browser = new Browser();
    const page = await browser.navigate(`${poort.issuer}${FORGOT}`);
    const form = readForm(page, 'forgot-form');

    const noCookie = await new Browser().navigate(form.action, {
      form: { ...form.fields, username: 'alice' },
    });
    expect(noCookie.status).toBe(403);
    const other = new Browser();
    await other.navigate(`${poort.issuer}${FORGOT}`);
    const otherCookie = await other.navigate(form.action, { form: { ...form.fields, username: 'alice' } });
    expect(otherCookie.status).toBe(403);
    const forged = await browser.navigate(form.action, { form: { csrf: 'forged', username: 'alice' } });
    expect(forged.status).toBe(403);

    const empty = await browser.navigate(form.action, { form: { ...form.fields, username: '  ' } });
    expect(empty.status).toBe(400);
    expect(empty.body).toContain('<title>Error: Forgot your password? — Acme</title>');
    expect(empty.body).toContain('Type your username or e-mail address.');
    expect(empty.body).toContain('aria-describedby="forgot-intro forgot-error" aria-invalid="true"');

    await new Promise((r) => setTimeout(r, 300));
    expect(await eventsSince(since)).toEqual([]);
    expect(smtp.to('alice@acme.example')).toHaveLength(3); // those of the test before
  });
});

describe('without self-service password reset (the default)', { timeout: 60_000 }, () => {
  let poort: TestPoort;

  beforeAll(async () => {
    poort = await startPoort();
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
  });
  afterAll(async () => {
    await poort?.stop();
  });

  it('offers no link and no page, and a dead link sends people to the helpdesk', async () => {
    const app = await relyingParty(poort, 'app', SECRET);
    const pending = await startAuthorization(app, { redirectUri: REDIRECT });
    const signin = await new Browser().navigate(pending.url.href, {}, REDIRECT);
    expect(signin.body).toContain('<label for="password">Password</label>');
    expect(signin.body).not.toContain('Forgot your password?');
    expect((await fetch(`${poort.issuer}${FORGOT}`)).status).toBe(404);
    const dead = await new Browser().navigate(
      `${poort.issuer}/account/password/reset/AAAAAAAAAAAAAAAAAAAAAA.${'A'.repeat(43)}`,
    );
    expect(dead.status).toBe(400);
    expect(dead.body).toContain('Ask the helpdesk for a new link.');
  });
});
