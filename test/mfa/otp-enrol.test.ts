import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/directory/identity.js';
import type { EnrolContext, SecondFactor } from '../../src/mfa/factor.js';
import { secondFactors } from '../../src/mfa/kinds.js';
import { translator } from '../../src/http/i18n.js';
import { renderPage, type PageContext } from '../../src/http/render.js';
import { readForm } from '../helpers/browser.js';
import { FAST_ARGON2 } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { startSmsGateway, type TestSmsGateway } from '../helpers/sms-gateway.js';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';

const page = (lang: 'en' | 'nl' = 'en'): PageContext => ({
  lang,
  t: translator(lang),
  organisation: 'Acme',
  languages: [],
});

/** The enrolment partial as the enrolment pages include it, with the form's address and CSRF token filled in. */
function render(view: string, vars: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    url: 'http://localhost/enrol',
    status: 200,
    headers: new Headers(),
    body: renderPage(view, page(), { ...vars, ...extra }),
  };
}

describe('enrolling an e-mail address or phone number', () => {
  let smtp: TestSmtpServer;
  let gateway: TestSmsGateway;
  let poort: TestPoort;
  let email: SecondFactor;
  let sms: SecondFactor;
  let user: Identity;
  let n = 0;

  const ctx = (binding = `enrol-${++n}`): EnrolContext => ({
    user,
    binding,
    action: '/signin/uid/enrol/email',
    csrf: 'csrf-token',
    ip: '127.0.0.1',
    organisation: 'Acme',
    origin: poort.issuer,
  });

  beforeAll(async () => {
    smtp = await startSmtpServer();
    gateway = await startSmsGateway({ expectedAuth: 'Token t0k3n' });
    process.env.POORT_TEST_GATEWAY_TOKEN = 't0k3n';
    poort = await startPoort(`${FAST_ARGON2}
organisation: { name: Acme }
mfa:
  kinds: [totp, email, sms]
  otp:
    send_limit: { per_user: 50, per_ip: 50, window: 15m }
    email: { type: smtp, host: 127.0.0.1, port: ${smtp.port}, security: none, from: no-reply@acme.example }
    sms: { type: webhook, url: "${gateway.url}", headers: { Authorization: "Token \${POORT_TEST_GATEWAY_TOKEN}" } }
`);
    const kinds = secondFactors(poort.services);
    email = kinds.get('email')!;
    sms = kinds.get('sms')!;
    const id = await poort.addUser({ username: 'hanna', password: 'a passphrase nobody guesses' });
    user = (await poort.services.directory.findById(id))!;
  });
  afterAll(async () => {
    await poort?.stop();
    await smtp?.close();
    await gateway?.close();
  });

  it('asks for an address, sends a code to it, and adds the factor once the code comes back', async () => {
    const c = ctx();
    const first = await email.enrolment!.begin(c, {});
    expect(first.view).toBe('enrol/email');
    expect(first.state).toBeNull();
    const form = readForm(
      render(first.view, first.vars, { beginAction: `${c.action}/begin` }),
      'otp-enrol-send',
    );
    expect(form.action).toBe('http://localhost/signin/uid/enrol/email/begin');
    expect(form.fields).toEqual({ csrf: 'csrf-token', action: 'send', destination: '' });

    const sent = await email.enrolment!.begin(c, {
      ...form.fields,
      destination: ' Hanna.de.Vries@Example.ORG ',
    });
    expect(sent.state).toEqual({ destination: 'Hanna.de.Vries@example.org' });
    expect(sent.vars).toMatchObject({ otp: { step: 'code', masked: 'H***@example.org' } });
    const mail = await smtp.waitFor('Hanna.de.Vries@example.org');
    expect(mail.subject).toBe('Confirm your e-mail address for Acme');
    expect(mail.headers.from).toBe('no-reply@acme.example');
    const code = codeIn(mail.text);

    const confirm = readForm(render(sent.view, sent.vars), 'otp-enrol-confirm');
    expect(confirm.action).toBe('http://localhost/signin/uid/enrol/email');
    expect(Object.keys(confirm.fields).sort()).toEqual(['action', 'code', 'csrf', 'name']);

    const wrong = code === '123456' ? '654321' : '123456';
    expect(await email.enrolment!.finish(c, sent.state, { code: wrong })).toEqual({
      ok: false,
      reason: 'invalid_code',
    });
    const done = await email.enrolment!.finish(c, sent.state, { code, name: 'Private mail' });
    expect(done).toMatchObject({
      ok: true,
      factor: { kind: 'email', name: 'Private mail', userId: user.id },
    });
    if (!done.ok) return;
    const stored = await poort.services.factors.withSecret<string>(done.factor.id);
    expect(stored!.secret).toBe('Hanna.de.Vries@example.org');
    // used once
    expect(await email.enrolment!.finish(c, sent.state, { code })).toEqual({ ok: false, reason: 'expired' });
    // and not twice
    const again = await email.enrolment!.begin(ctx(), { destination: 'hanna.de.vries@EXAMPLE.org' });
    expect(again.vars).toMatchObject({ otp: { step: 'destination', problem: 'already_enrolled' } });
    expect(smtp.to('Hanna.de.Vries@example.org')).toHaveLength(1);
  });

  it('refuses what is not an address or number, and sends nothing', async () => {
    for (const destination of [
      'hanna',
      'hanna@',
      'a b@example.org',
      'hanna@localhost',
      'x@example.org\r\nBcc: y@example.org',
    ]) {
      const result = await email.enrolment!.begin(ctx(), { destination, action: 'send' });
      expect(result.state, destination).toBeNull();
      expect(result.vars, destination).toMatchObject({
        otp: { step: 'destination', problem: 'invalid_destination' },
      });
    }
    for (const destination of ['0612345678', '+31 6', '+0123456789', '+12345678901234567']) {
      const result = await sms.enrolment!.begin(ctx(), { destination, action: 'send' });
      expect(result.vars, destination).toMatchObject({
        otp: { step: 'destination', problem: 'invalid_destination' },
      });
    }
    const shown = render('enrol/sms', (await sms.enrolment!.begin(ctx(), { destination: '0612<b>' })).vars);
    expect(shown.body).toContain('value="0612&lt;b&gt;"');
    expect(shown.body).toContain('That is not a mobile number with a country code');
    expect(smtp.received).toHaveLength(1);
    expect(gateway.accepted).toHaveLength(0);
  });

  it('enrols a phone number with a code sent through the SMS gateway', async () => {
    const c = ctx();
    const sent = await sms.enrolment!.begin(c, { destination: '+31 (6) 8765-4321', action: 'send' });
    expect(sent.state).toEqual({ destination: '+31687654321' });
    const text = await gateway.waitFor('+31687654321');
    expect(text.request.headers.authorization).toBe('Token t0k3n');
    expect(text.text).toMatch(/^\d{6} is your code to confirm this number for Acme\. Valid for 5 minutes\.$/);
    const done = await sms.enrolment!.finish(c, sent.state, { code: codeIn(text.text) });
    expect(done).toMatchObject({ ok: true, factor: { kind: 'sms', name: '+31 6 *** ** 21' } });
  });

  it('takes only the code sent to the address in the state, and the newest one', async () => {
    const c = ctx();
    const first = await email.enrolment!.begin(c, { destination: 'first@example.org' });
    const firstCode = codeIn((await smtp.waitFor('first@example.org')).text);
    const second = await email.enrolment!.begin(c, { destination: 'second@example.org' });
    const secondCode = codeIn((await smtp.waitFor('second@example.org')).text);
    // the earlier state does not match the code now pending for this binding
    expect(await email.enrolment!.finish(c, first.state, { code: secondCode })).toEqual({
      ok: false,
      reason: 'expired',
    });
    expect(await email.enrolment!.finish(c, second.state, { code: firstCode })).toEqual({
      ok: false,
      reason: 'invalid_code',
    });
    expect(await email.enrolment!.finish(c, null, { code: secondCode })).toEqual({
      ok: false,
      reason: 'expired',
    });
    expect(await email.enrolment!.finish(c, second.state, { code: secondCode })).toMatchObject({ ok: true });
  });

  it('renders both steps in Dutch too', async () => {
    const c = ctx();
    const sent = await email.enrolment!.begin(c, { destination: 'nl@example.org' });
    await smtp.waitFor('nl@example.org');
    const body = renderPage(sent.view, page('nl'), sent.vars);
    expect(body).toContain('We hebben een code gestuurd naar n***@example.org. Die is 5 minuten geldig.');
    expect(body).toContain('Nieuwe code versturen');
  });
});
