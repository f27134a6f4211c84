import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseNewPassword } from '../helpers/account.js';
import { Browser } from '../helpers/browser.js';
import { passwordSignsIn, relyingParty } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { mailedLink, startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { eventsSince, lastSeq } from '../helpers/trail.js';

const SECRET = 'hr-secret-0123456789abcdef';
const REDIRECT = 'http://127.0.0.1:7963/cb';
const PASSWORD = 'my very own first passphrase';

describe('SCIM: the welcome e-mail of a joiner', { timeout: 60_000 }, () => {
  let poort: TestPoort;
  let smtp: TestSmtpServer;
  let token: string;
  let wiki: oidc.Configuration;

  const create = async (userName: string, active = true) => {
    const res = await fetch(`${poort.issuer}/scim/v2/Users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify({
        userName,
        active,
        name: { givenName: 'Joris', familyName: 'Bakker' },
        emails: [{ value: `${userName}@school.example`, primary: true }],
      }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };

  beforeAll(async () => {
    smtp = await startSmtpServer();
    poort = await startPoort(`organisation: { name: Acme }
scim: { clients: [hr], welcome_link_lifetime: 3d }
passwords:
  argon2: { memory_kib: 8192, iterations: 1 }
  reset:
    email: { type: smtp, host: 127.0.0.1, port: ${smtp.port}, security: none, from: helpdesk@acme.example }
`);
    await poort.addClient({ clientId: 'hr', secret: SECRET, grantTypes: ['client_credentials'] });
    await poort.addClient({ clientId: 'wiki', secret: SECRET, redirectUris: [REDIRECT] });
    token = (await oidc.clientCredentialsGrant(await relyingParty(poort, 'hr', SECRET))).access_token;
    wiki = await relyingParty(poort, 'wiki', SECRET);
  });
  afterAll(async () => {
    await poort?.stop();
    await smtp?.close();
  });

  it('e-mails a new user a link to choose their password, with which they sign in', async () => {
    const seq = await lastSeq(poort);
    const id = await create('joris');
    const mail = await mailedLink(smtp, 'joris@school.example');
    expect(mail.subject).toBe('Your account at Acme: choose your password');
    expect(mail.text).toContain('your username is joris');
    const [requested] = (await eventsSince(poort, seq)).filter(
      (e) => e.action === 'password.reset.requested',
    );
    expect(requested).toMatchObject({
      actor: { type: 'client', id: 'hr' },
      subject: { id, username: 'joris' },
      details: { via: 'provisioning', delivery: 'email', ttl_seconds: 3 * 86400 },
    });

    const browser = new Browser();
    const page = await browser.navigate(mail.link);
    expect(page.body).toContain('Choose the password for your new account joris');
    const done = await chooseNewPassword(browser, page, PASSWORD);
    expect(done.status).toBe(200);
    expect(await passwordSignsIn(wiki, REDIRECT, { username: 'joris', password: PASSWORD })).toBe(true);
  });

  it('e-mails a joiner created inactive on the day they are made active, not before', async () => {
    const id = await create('kees', false);
    await create('lies');
    await mailedLink(smtp, 'lies@school.example');
    expect(smtp.to('kees@school.example')).toHaveLength(0);
    const activated = await fetch(`${poort.issuer}/scim/v2/Users/${id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify({
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'Replace', path: 'active', value: 'True' }],
      }),
    });
    expect(activated.status).toBe(200);
    expect((await mailedLink(smtp, 'kees@school.example')).subject).toBe(
      'Your account at Acme: choose your password',
    );
  });
});
