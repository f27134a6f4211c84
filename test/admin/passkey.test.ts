import type { Browser as Chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_CLIENT_ID } from '../../src/admin/client.js';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { WebauthnFactor } from '../../src/mfa/webauthn/factor.js';
import { launchChromium, pageWithAuthenticator, type AuthenticatorPage } from '../helpers/chromium.js';
import { enrolPasskey } from '../helpers/passkey.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { eventsSince, lastSeq } from '../helpers/trail.js';

const PASSWORD = 'a passphrase nobody guesses';

describe('the administration console with admin.require: phishing_resistant (Chromium, virtual authenticator)', () => {
  let poort: TestPoort;
  let chromium: Chromium;
  let webauthn: WebauthnFactor;
  let csp: string;
  const pages: AuthenticatorPage[] = [];

  beforeAll(async () => {
    [poort, chromium] = await Promise.all([
      startPoort(
        'passwords: { argon2: { memory_kib: 8192, iterations: 1 } }\nadmin: { require: phishing_resistant }\n',
      ),
      launchChromium(),
    ]);
    webauthn = new WebauthnFactor(poort.services);
    csp = (await fetch(`${poort.issuer}/healthz`)).headers.get('content-security-policy')!;
  });
  afterAll(async () => {
    await Promise.all(pages.map((p) => p.close()));
    await chromium?.close();
    await poort?.stop();
  });

  async function browserOf(username: string, factor: 'passkey' | 'totp') {
    const auth = await pageWithAuthenticator(chromium);
    pages.push(auth);
    const id = await poort.addUser({ username, password: PASSWORD, groups: ['poort-security-officers'] });
    if (factor === 'passkey') await enrolPasskey(poort, webauthn, csp, auth, id);
    else
      await poort.services.factors.add({ userId: id, kind: 'totp', name: 'Phone', secret: newTotpSecret() });
    return Object.assign(auth, { id });
  }

  it('opens for a passkey, and asks the sign-in for a phishing-resistant factor', async () => {
    const sofie = await browserOf('sofie', 'passkey');
    const seq = await lastSeq(poort);
    const [auth] = await Promise.all([
      sofie.page.waitForRequest((r) => new URL(r.url()).pathname === '/auth'),
      sofie.page.goto(`${poort.issuer}/admin/policy`),
    ]);
    const params = new URL(auth.url()).searchParams;
    expect(params.get('client_id')).toBe(ADMIN_CLIENT_ID);
    expect(params.get('acr_values')).toBe('urn:poort:acr:phishing-resistant');
    await sofie.page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await sofie.page.waitForURL(`${poort.issuer}/admin/policy`);
    await sofie.page.getByRole('heading', { name: 'Sign-in policy', level: 1 }).waitFor();
    const access = (await eventsSince(poort, seq)).find((e) => e.action === 'admin.access');
    expect(access).toMatchObject({ outcome: 'success', actor: { type: 'admin', id: sofie.id } });
  });

  it('stays shut for someone with an authenticator app only', async () => {
    const tom = await browserOf('tom', 'totp');
    const seq = await lastSeq(poort);
    await tom.page.goto(`${poort.issuer}/admin`);
    await tom.page.getByLabel('Username').fill('tom');
    await tom.page.getByLabel('Password').fill(PASSWORD);
    await tom.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await tom.page.waitForLoadState();
    // the sign-in asks for a stronger factor than the app: a new one, with an enrolment code from the helpdesk
    expect(new URL(tom.page.url()).pathname).toMatch(/^\/signin\/[^/]+\/enrol$/);
    await tom.page
      .getByText('This sign-in needs a stronger second factor than the ones you have set up.')
      .waitFor();
    const events = await eventsSince(poort, seq);
    expect(events.some((e) => e.action === 'admin.access')).toBe(false);
    expect(events.some((e) => e.action === 'signin.completed')).toBe(false);
  });
});
