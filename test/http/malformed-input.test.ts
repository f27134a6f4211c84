import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { Browser, readForm } from '../helpers/browser.js';
import { relyingParty, startAuthorization } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'http://127.0.0.1:7777/cb';

/** Bodies no browser sends: arrays and objects for single fields, bad encodings, huge or many fields, other types. */
const BODIES: Array<[contentType: string, body: string | Blob]> = [
  [
    'application/x-www-form-urlencoded',
    'csrf[]=a&csrf[]=b&username[x]=1&password=1&code[]=1&factor[]=x&action[]=send',
  ],
  ['application/x-www-form-urlencoded', 'csrf=%ZZ&username=%ff%fe&password=%00&__proto__[x]=1'],
  ['application/x-www-form-urlencoded', 'a='.padEnd(300_000, 'x')],
  ['application/x-www-form-urlencoded', Array.from({ length: 5000 }, (_, i) => `f${i}=1`).join('&')],
  ['application/x-www-form-urlencoded', new Blob([new Uint8Array([0xff, 0xfe, 0x00, 0x41])])],
  ['application/x-www-form-urlencoded; charset=utf-7', 'a=1'],
  ['application/json', '{"csrf": ["x"], "username": {"a": 1}}'],
  ['application/json', '{not json'],
  ['text/plain', 'hello'],
  ['multipart/form-data; boundary=xx', '--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xx--'],
  ['', ''],
];

/** Every form Poort serves and the protocol endpoints that take a POST (UID: a live sign-in). */
const POSTS = [
  '/signin/UID/login',
  '/signin/UID/consent',
  '/signin/UID/mfa',
  '/signin/UID/mfa/continue',
  '/signin/UID/passkey/options',
  '/signin/UID/passkey',
  '/signin/UID/enrol/code',
  '/signin/UID/enrol/totp',
  '/signin/UID/enrol/totp/begin',
  '/signin/UID/enrol/webauthn/begin',
  '/signin/UID/enrol/nonsense',
  '/account/password/reset/abc',
  '/account/password/forgot',
  '/account/security/recovery',
  '/account/security/password',
  '/account/security/add/totp',
  '/account/security/add/totp/begin',
  '/account/security/factors/x/rename',
  '/account/security/factors/x/remove',
  '/account/signout',
  '/saml/sso',
  '/saml/slo',
  '/token',
  '/token/introspection',
  '/token/revocation',
  '/request',
  '/session/end/confirm',
  '/me',
];

/** Query strings with repeated, undecodable or absurd parameters. */
const GETS = [
  '/signin/UID',
  '/signin/UID/mfa?factor[]=x',
  '/signin/UID/mfa?factor=%ff',
  '/signin/UID/enrol',
  '/signin/UID/enrol/totp',
  '/signin/UID/enrol/%ff',
  '/signin/%ff',
  '/account/callback?code[]=1&state[]=2',
  '/account/callback?error=x&error_description[]=y',
  '/account/security',
  '/account/security/password?current[]=x',
  '/account/password/reset/%ff',
  '/account/password/forgot?username[]=a&username[]=b',
  '/account/password/forgot?username=%ff&lang[]=nl',
  '/saml/sso?SAMLRequest[]=1',
  '/saml/sso?SAMLRequest=%%%',
  '/saml/init?sp[]=x',
  '/saml/init?sp=%ff',
  '/saml/callback?state[]=1',
  '/saml/slo?SAMLRequest=AAAA',
  '/auth?client_id[]=app',
  `/auth?client_id=app&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=openid&ui_locales[]=nl`,
  '/session/end?id_token_hint=abc.def.ghi',
  '/session/end?post_logout_redirect_uri[]=x',
  '/.well-known/openid-configuration/%ff',
  '/static/%ff',
  '/static/..%2fpackage.json',
];

/**
 * Bad input gets a 4xx and a page or protocol error, never a 5xx or a stack trace: every form route and protocol
 * endpoint, with and without a live sign-in behind it, before and after the password step.
 */
describe('malformed requests to every route', () => {
  let poort: TestPoort;
  let secret: string;

  beforeAll(async () => {
    poort = await startPoort(`mfa: { required: always }
passwords:
  argon2: { memory_kib: 8192, iterations: 1 }
  reset: { email: { type: outbox }, self_service: { enabled: true } }
`);
    const id = await poort.addUser({ username: 'anna', password: PASSWORD, email: 'anna@example.org' });
    secret = newTotpSecret();
    await poort.services.factors.add({ userId: id, kind: 'totp', name: 'Phone', secret });
    await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
  });
  afterAll(async () => poort?.stop());

  it('answers each with a 4xx (or a page or redirect), never a 5xx or a stack trace', async () => {
    const rp = await relyingParty(poort, 'app', 'app-secret-0123456789');
    const browser = new Browser();
    const login = readForm(
      await browser.navigate((await startAuthorization(rp, { redirectUri: REDIRECT })).url.href),
    );
    const uid = /\/signin\/([^/]+)\/login$/.exec(login.action)![1]!;
    const cookie = () => [...browser.cookies.values()].map((c) => `${c.name}=${c.value}`).join('; ');
    const answers: string[] = [];
    const wrong: string[] = [];
    const send = async (method: string, route: string, contentType?: string, body?: string | Blob) => {
      const res = await fetch(poort.issuer.replace(/\/$/, '') + route.replace('UID', uid), {
        method,
        headers: {
          cookie: cookie(),
          accept: 'text/html',
          ...(contentType ? { 'content-type': contentType } : {}),
        },
        body,
        redirect: 'manual',
      });
      const text = await res.text();
      answers.push(`${method} ${route} ${res.status}`);
      if (res.status >= 500 || /\bat .+\.[jt]s:\d+/.test(text))
        wrong.push(
          `${method} ${route} [${contentType}] ${String(body).slice(0, 60)} → ${res.status} ${text.slice(0, 300)}`,
        );
    };
    const sweep = async () => {
      for (const route of POSTS) for (const [type, body] of BODIES) await send('POST', route, type, body);
      for (const route of GETS) await send('GET', route);
    };

    await sweep(); // at the password step
    // a valid CSRF token with fields a browser would not send
    const csrf = encodeURIComponent(login.fields.csrf!);
    for (const body of [
      `csrf=${csrf}&username[]=a&username[]=b&password=x`,
      `csrf=${csrf}&csrf=${csrf}&username=a&password=x`,
      `csrf=${csrf}&username=%00anna&password=%00`,
      `csrf=${csrf}&username[__proto__]=x&password=y`,
      `csrf=${csrf}&username=${'a'.repeat(100_000)}&password=x`,
    ])
      await send('POST', '/signin/UID/login', 'application/x-www-form-urlencoded', body);
    // the same on "Forgot your password?", with the token of this browser's cookie
    const forgot = readForm(await browser.navigate(`${poort.issuer}/account/password/forgot`), 'forgot-form');
    const forgotCsrf = encodeURIComponent(forgot.fields.csrf!);
    for (const body of [
      `csrf=${forgotCsrf}&username[]=a&username[]=b`,
      `csrf=${forgotCsrf}&username[__proto__]=x`,
      `csrf=${forgotCsrf}&username=%00anna`,
      `csrf=${forgotCsrf}&username=${'a'.repeat(10_000)}`,
      `csrf=${forgotCsrf}&username=${'ä'.repeat(300)}`,
    ])
      await send('POST', '/account/password/forgot', 'application/x-www-form-urlencoded', body);

    const code = await browser.navigate(
      login.action,
      { form: { ...login.fields, username: 'anna', password: PASSWORD } },
      REDIRECT,
    );
    expect(code.status).toBe(200);
    await sweep(); // at the second factor
    const mfa = readForm(code);
    const extras: Array<Record<string, string>> = [
      { code: '1'.repeat(5000) },
      { factor: 'x'.repeat(10_000) },
      { factor: '' },
      { action: 'send' },
      { credential: '{' },
      { credential: '{"id": 1, "response": null}' },
      { factor: 'recovery', code: 'x' },
    ];
    for (const extra of extras) {
      const body = new URLSearchParams({ ...mfa.fields, ...extra }).toString();
      await send('POST', '/signin/UID/mfa', 'application/x-www-form-urlencoded', body);
    }
    const done = await browser.navigate(
      mfa.action,
      { form: { ...mfa.fields, code: await generate({ secret }) } },
      REDIRECT,
    );
    expect(done.status).toBe(0); // the sign-in still finishes
    await sweep(); // signed in, the sign-in finished

    expect(wrong).toEqual([]);
    // the sweep reached the handlers, not only the CSRF check
    expect(answers).toContain('POST /signin/UID/login 400');
    expect(answers).toContain('POST /signin/UID/mfa 401');
    expect(answers).toContain('POST /signin/UID/login 413');
    expect(answers).toContain('POST /account/password/forgot 200');
    expect(answers).toContain('POST /account/password/forgot 400');
    expect(answers).toContain('POST /token 400');
  });
});
