import * as oidc from 'openid-client';
import { pino } from 'pino';
import { generate } from 'otplib';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import { runCliOn } from '../helpers/cli.js';
import {
  answerConsent,
  FAST_ARGON2,
  isPasswordForm,
  redeemCode,
  relyingParty,
  signOutOfPoort,
  startAuthorization,
  submitPassword,
} from '../helpers/oidc.js';
import { freePort, startPoort, type TestPoort } from '../helpers/poort.js';
import { UpstreamSignOns } from '../../src/directory/upstream/sign-ons.js';
import { readSamlPost, walk } from '../helpers/saml-browser.js';
import { STATUS } from '../helpers/saml-xml.js';
import { startSamlPoort } from '../helpers/saml-poort.js';
import { ServiceProvider } from '../helpers/saml-sp.js';
import { eventsSince, lastSeq } from '../helpers/trail.js';

const REDIRECT = 'http://127.0.0.1:7812/cb';
const SIGNED_OUT = 'http://127.0.0.1:7812/signed-out';
const SECRET = 'app-secret-0123456789';
const UPSTREAM_SECRET = 'downstream-secret-0123456789';
const PASSWORD = 'ulla at the hospital directory';
const SCOPE = 'openid profile email groups';

// A second, real Poort plays the upstream provider (as Entra ID would be): the downstream Poort is its relying party.
let upstream: TestPoort;
let poort: TestPoort;
let app: oidc.Configuration;
let ullaUpstreamId: string;

beforeAll(async () => {
  upstream = await startPoort(FAST_ARGON2, { host: '127.0.0.1' });
  ullaUpstreamId = await upstream.addUser({
    username: 'ulla',
    password: PASSWORD,
    email: 'ulla@hospital.example',
    name: 'Ulla Vos',
    groups: ['Nurses'],
  });
  poort = await startPoort(
    `${FAST_ARGON2}upstream_providers:\n${provider('hospital', 'Hospital', upstream.issuer, '    domains: [hospital.example]\n')}${provider('clinic', 'Clinic', upstream.issuer)}${provider('gone', 'Gone', `http://127.0.0.1:${await freePort()}`, '    sign_out: true\n')}${provider('trusted', 'Trusted', upstream.issuer, '    trust_mfa: true\n    claims: { username: email }\n')}${provider('kiosk', 'Kiosk', upstream.issuer, '    sign_out: true\n')}`,
  );
  for (const [id, firstParty] of [
    ['hospital', true],
    ['clinic', false],
    ['trusted', true],
    ['kiosk', true],
  ] as const) {
    await upstream.addClient({
      clientId: `${id}-client`,
      secret: UPSTREAM_SECRET,
      redirectUris: [`${poort.issuer}/signin/upstream/${id}/callback`],
      postLogoutRedirectUris: [`${poort.issuer}/signin/upstream/${id}/signed-out`],
      firstParty,
    });
  }
  await poort.addClient({
    clientId: 'app',
    secret: SECRET,
    redirectUris: [REDIRECT],
    postLogoutRedirectUris: [SIGNED_OUT],
  });
  app = await relyingParty(poort, 'app', SECRET);
});
afterAll(async () => {
  await poort?.stop();
  await upstream?.stop();
});

/** An `upstream_providers` entry for a provider at `issuer`, whose client there is `<id>-client`. */
const provider = (id: string, name: string, issuer: string, extra = '') =>
  `  - id: ${id}\n    name: ${name}\n    issuer: ${issuer}\n    client_id: ${id}-client\n    client_secret: ${UPSTREAM_SECRET}\n    scopes: [openid, profile, email, groups]\n${extra}`;

const byAction = (events: AuditEvent[], action: string) => events.filter((e) => e.action === action);

/** A browser on the downstream sign-in page of a fresh authorization request, pressing the provider's button. */
async function pressButton(provider: string, stopAt = REDIRECT) {
  const browser = new Browser();
  const pending = await startAuthorization(app, { redirectUri: REDIRECT, scope: SCOPE });
  const page = await browser.navigate(pending.url.href);
  expect(isPasswordForm(page)).toBe(true);
  const button = readForm(page, `upstream-${provider}`);
  const next = await browser.navigate(button.action, { form: button.fields }, stopAt);
  return { browser, pending, page, next };
}

describe('signing in at an upstream OpenID provider', () => {
  it('offers a button per provider, and brings the user back signed in, with claims from the provider', async () => {
    const seq = await lastSeq(poort);
    const { browser, pending, page, next } = await pressButton('hospital');
    expect(page.body).toContain('Sign in with Hospital');
    expect(page.body).toContain('Sign in with Clinic');
    const dutch = await new Browser({ 'accept-language': 'nl' }).navigate(
      (await startAuthorization(app, { redirectUri: REDIRECT, scope: SCOPE })).url.href,
    );
    expect(dutch.body).toContain('Aanmelden met Hospital');
    // at the provider: its own password form
    expect(next.url.startsWith(`${upstream.issuer}/`)).toBe(true);
    expect(isPasswordForm(next)).toBe(true);
    const callback = await submitPassword(browser, next, 'ulla', PASSWORD, REDIRECT);
    expect(callback.status).toBe(0);
    const tokens = await redeemCode(app, callback, pending);

    const user = (await poort.services.users.findExternal('upstream:hospital', ullaUpstreamId))!;
    expect(user).toMatchObject({
      username: 'ulla',
      email: 'ulla@hospital.example',
      name: 'Ulla Vos',
      groups: ['Nurses'],
      directory: 'upstream:hospital',
      hasPassword: false,
    });
    expect(tokens.claims()).toMatchObject({ sub: user.id, amr: ['fed'] });
    expect(await oidc.fetchUserInfo(app, tokens.access_token, user.id)).toMatchObject({
      preferred_username: 'ulla',
      email: 'ulla@hospital.example',
      groups: ['Nurses'],
    });

    const events = await eventsSince(poort, seq);
    expect(byAction(events, 'user.created')).toEqual([
      expect.objectContaining({
        actor: { type: 'system', name: 'upstream:hospital' },
        details: { directory: 'upstream:hospital', issuer: upstream.issuer, groups: ['Nurses'] },
      }),
    ]);
    expect(byAction(events, 'signin.upstream')).toEqual([
      expect.objectContaining({
        outcome: 'success',
        subject: { id: user.id, username: 'ulla', known: true },
        details: { provider: 'hospital' },
        application: { id: 'app', protocol: 'oidc' },
      }),
    ]);
    expect(byAction(events, 'signin.completed')[0]!.details).toMatchObject({ amr: ['fed'] });
  });

  it('keeps the same user at the next sign-in, following what the provider says now', async () => {
    await upstream.services.users.update('ulla', { name: 'Ulla de Vos' });
    const { browser, pending, next } = await pressButton('hospital');
    const tokens = await redeemCode(
      app,
      await submitPassword(browser, next, 'ulla', PASSWORD, REDIRECT),
      pending,
    );
    const user = (await poort.services.users.findExternal('upstream:hospital', ullaUpstreamId))!;
    expect(tokens.claims()!.sub).toBe(user.id);
    expect(user.name).toBe('Ulla de Vos');
  });

  it('sends a name typed in a provider’s domain to that provider, with it as the login hint', async () => {
    const browser = new Browser();
    const pending = await startAuthorization(app, { redirectUri: REDIRECT, scope: SCOPE });
    const page = await browser.navigate(pending.url.href);
    const form = readForm(page);
    const atProvider = await browser.navigate(
      form.action,
      { form: { ...form.fields, username: 'Ulla@Hospital.example', password: 'typed here, never used' } },
      REDIRECT,
    );
    expect(atProvider.url.startsWith(`${upstream.issuer}/`)).toBe(true);
    expect(isPasswordForm(atProvider)).toBe(true);
    expect(atProvider.body).toContain('value="Ulla@Hospital.example"');
    const callback = await submitPassword(browser, atProvider, 'ulla', PASSWORD, REDIRECT);
    const tokens = await redeemCode(app, callback, pending);
    const user = (await poort.services.users.findExternal('upstream:hospital', ullaUpstreamId))!;
    expect(tokens.claims()!.sub).toBe(user.id);
    // other names still get the password form's answer
    const elsewhere = new Browser();
    const otherForm = readForm(
      await elsewhere.navigate((await startAuthorization(app, { redirectUri: REDIRECT })).url.href),
    );
    const other = await elsewhere.navigate(otherForm.action, {
      form: { ...otherForm.fields, username: 'someone@elsewhere.example', password: 'wrong' },
    });
    expect(other.status).toBe(401);
  });

  it('asks for the second factor the user has here, as after a password: the provider is the first factor', async () => {
    const user = (await poort.services.users.findExternal('upstream:hospital', ullaUpstreamId))!;
    const secret = newTotpSecret();
    await poort.services.factors.add({ userId: user.id, kind: 'totp', name: 'Phone', secret });
    try {
      const { browser, pending, next } = await pressButton('hospital');
      const mfa = await submitPassword(browser, next, 'ulla', PASSWORD, REDIRECT);
      expect(mfa.url).toMatch(/\/mfa$/);
      const form = readForm(mfa);
      const callback = await browser.navigate(
        form.action,
        { form: { ...form.fields, code: await generate({ secret }) } },
        REDIRECT,
      );
      const tokens = await redeemCode(app, callback, pending);
      expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['fed', 'otp', 'mfa']));
    } finally {
      await poort.services.factors.removeAll(user.id);
    }
  });

  it('says so when the person declines at the provider, and records why', async () => {
    const seq = await lastSeq(poort);
    const { browser, next } = await pressButton('clinic');
    const consent = await submitPassword(browser, next, 'ulla', PASSWORD, REDIRECT);
    const back: Page = await answerConsent(browser, consent, 'deny', REDIRECT);
    expect(back.status).toBe(401);
    expect(back.body).toContain('Signing in with Clinic did not succeed');
    // the sign-in page again, to try another way
    expect(back.body).toContain('autocomplete="current-password"');
    expect(byAction(await eventsSince(poort, seq), 'signin.upstream')).toEqual([
      expect.objectContaining({
        outcome: 'failure',
        reason: 'upstream_failed',
        details: { provider: 'clinic', failure: 'access_denied' },
      }),
    ]);
  });

  it('refuses a button press without the form’s CSRF token, and a provider it does not know', async () => {
    const browser = new Browser();
    const page = await browser.navigate(
      (await startAuthorization(app, { redirectUri: REDIRECT, scope: SCOPE })).url.href,
    );
    const button = readForm(page, 'upstream-hospital');
    expect((await browser.request(button.action, { form: { csrf: 'forged' } })).status).toBe(403);
    const unknown = button.action.replace('/upstream/hospital', '/upstream/nobody');
    expect((await browser.request(unknown, { form: button.fields })).status).toBe(400);
    expect((await browser.request(`${poort.issuer}/signin/upstream/nobody/callback?state=abc`)).status).toBe(
      400,
    );
    // hostile callbacks get the same clean answer: no state, a repeated one, an overlong one, bad percent-encoding
    for (const query of [
      '',
      '?code=x',
      '?state=a&state=b',
      `?state=${'a'.repeat(5000)}`,
      '?state=%E0%A4%A',
      '?state[]=x',
    ]) {
      const page = await browser.request(`${poort.issuer}/signin/upstream/hospital/callback${query}`);
      expect(page.status, query).toBe(400);
      expect(page.body).not.toMatch(/at .*\.js:\d+/);
    }
    // and the last step, reached without an answer waiting
    const uid = /\/signin\/([^/]+)\/upstream\//.exec(button.action)![1]!;
    expect((await browser.request(`${poort.issuer}/signin/${uid}/upstream/finish`)).status).toBe(400);
  });

  it('refuses a callback it did not send: unknown, replayed, or carried to another browser', async () => {
    const unknown = await new Browser().request(
      `${poort.issuer}/signin/upstream/hospital/callback?code=x&state=forged`,
    );
    expect(unknown.status).toBe(400);
    expect(unknown.body).not.toMatch(/at .*\.js:\d+/);

    // the real answer, stopped before the browser brings it back
    const calledBack = `${poort.issuer}/signin/upstream/hospital/callback`;
    const { browser, next } = await pressButton('hospital', calledBack);
    const atCallback = await submitPassword(browser, next, 'ulla', PASSWORD, calledBack);
    expect(atCallback.status).toBe(0);
    // another browser (the victim of a login CSRF) gets no sign-in from it
    const victim = new Browser();
    const planted = await victim.navigate(atCallback.url, {}, REDIRECT);
    expect(planted.status).toBe(400);
    expect(planted.url).toMatch(/\/upstream\/finish$/);
    // and the state was used up
    expect((await browser.request(atCallback.url)).status).toBe(400);
  });

  it('says so when the provider cannot be reached, and records it', async () => {
    const seq = await lastSeq(poort);
    const { next } = await pressButton('gone');
    expect(next.status).toBe(503);
    expect(next.body).toContain('Gone cannot be reached right now');
    expect(byAction(await eventsSince(poort, seq), 'signin.upstream')).toEqual([
      expect.objectContaining({
        outcome: 'failure',
        reason: 'upstream_unavailable',
        details: { provider: 'gone', failure: 'upstream_unavailable' },
      }),
    ]);
  });

  it('takes a trusted provider’s multi-factor sign-in for a second factor, where that is strong enough', async () => {
    /**
     * Signs in at the provider with password and code (a fresh authenticator each time: a code works once per time
     * step); returns where the browser ended at Poort.
     */
    const viaTrusted = async (params: Record<string, string> = {}) => {
      const atProvider = newTotpSecret();
      await upstream.services.factors.removeAll(ullaUpstreamId);
      await upstream.services.factors.add({
        userId: ullaUpstreamId,
        kind: 'totp',
        name: 'Phone',
        secret: atProvider,
      });
      const browser = new Browser();
      const pending = await startAuthorization(app, { redirectUri: REDIRECT, scope: SCOPE, params });
      const page = await browser.navigate(pending.url.href);
      const button = readForm(page, 'upstream-trusted');
      const upstreamMfa = await submitPassword(
        browser,
        await browser.navigate(button.action, { form: button.fields }),
        'ulla',
        PASSWORD,
        REDIRECT,
      );
      const form = readForm(upstreamMfa);
      const back = await browser.navigate(
        form.action,
        { form: { ...form.fields, code: await generate({ secret: atProvider }) } },
        REDIRECT,
      );
      return { back, pending };
    };
    try {
      const first = await viaTrusted();
      expect(first.back.status).toBe(0);
      const tokens = await redeemCode(app, first.back, first.pending);
      expect(tokens.claims()).toMatchObject({ amr: ['fed', 'mfa'], acr: 'urn:poort:acr:mfa' });
      const user = (await poort.services.users.findExternal('upstream:trusted', ullaUpstreamId))!;
      expect(user.username).toBe('ulla@hospital.example');

      // with a factor of her own here, which the policy ('enrolled') then asks for: the provider's MFA is enough
      await poort.services.factors.add({
        userId: user.id,
        kind: 'totp',
        name: 'Phone',
        secret: newTotpSecret(),
      });
      expect((await viaTrusted()).back.status).toBe(0);
      // but not where the application asks for more than any second factor
      const stricter = await viaTrusted({ acr_values: 'urn:poort:acr:phishing-resistant' });
      expect(stricter.back.status).not.toBe(0);
      expect(stricter.back.url.startsWith(`${poort.issuer}/signin/`)).toBe(true);
      expect(stricter.back.url).toMatch(/\/signin\/[^/]+\/(mfa|enrol)/);
    } finally {
      await upstream.services.factors.removeAll(ullaUpstreamId);
    }
  });

  it('keeps a user’s groups when the provider leaves them out as too many for a token (Entra overage)', async () => {
    const upstreamDirectory = poort.services.upstream!;
    const claims = { sub: 'olga-at-hospital', preferred_username: 'olga', email: 'olga@hospital.example' };
    const signIn = (more: Record<string, unknown>) =>
      upstreamDirectory.complete(
        'hospital',
        { ok: true, claims: { ...claims, ...more }, idToken: 'h.p.s' },
        {},
      );
    expect(await signIn({ groups: ['Doctors', 'Nurses'] })).toMatchObject({ ok: true });
    const olga = () => poort.services.users.findExternal('upstream:hospital', 'olga-at-hospital');
    expect((await olga())!.groups).toEqual(['Doctors', 'Nurses']);
    const seq = await lastSeq(poort);
    expect(
      await signIn({ _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: 'x' } } }),
    ).toMatchObject({
      ok: true,
    });
    expect((await olga())!.groups).toEqual(['Doctors', 'Nurses']);
    expect(byAction(await eventsSince(poort, seq), 'group.changed')).toEqual([]);
    // a provider that says "no groups" is believed
    expect(await signIn({ groups: [] })).toMatchObject({ ok: true });
    expect((await olga())!.groups).toEqual([]);
  });

  it('leaves the user’s password and groups to the provider', async () => {
    const set = await runCliOn(poort, ['user', 'set-password', 'ulla', '--password-stdin'], {
      input: 'a local password for ulla\n',
    });
    expect(set.code).toBe(1);
    expect(set.stderr).toContain('ulla is a user of the upstream provider hospital');
    const show = await runCliOn(poort, ['user', 'show', 'ulla']);
    expect(show.stdout).toMatch(/directory:\s+upstream:hospital/);
  });
});

describe('a SAML service provider’s sign-in', () => {
  it('goes through the upstream provider too, and the assertion carries what the provider said', async () => {
    const sp = await ServiceProvider.create({ entityId: 'https://ward.example.test/sp' });
    const samlPoort = await startSamlPoort([{ sp }], {
      yaml: `upstream_providers:\n${provider('ward', 'Ward', upstream.issuer)}`,
    });
    try {
      await upstream.addClient({
        clientId: 'ward-client',
        secret: UPSTREAM_SECRET,
        redirectUris: [`${samlPoort.issuer}/signin/upstream/ward/callback`],
      });
      const browser = new Browser();
      const page = await browser.navigate((await sp.redirectRequest()).url);
      const button = readForm(page, 'upstream-ward');
      const atUpstream = await browser.navigate(button.action, { form: button.fields });
      const back = await submitPassword(browser, atUpstream, 'ulla', PASSWORD, sp.acsUrl);
      const post = readSamlPost(back);
      expect(post?.action).toBe(sp.acsUrl);
      const result = await sp.validateResponse(post!.fields as { SAMLResponse: string });
      expect(result.attributes.email).toEqual(['ulla@hospital.example']);
      expect(result.attributes.groups).toEqual(['Nurses']);
      const [user] = await samlPoort.services.audit.query({ action: 'signin.upstream', limit: 1 });
      expect(user?.event).toMatchObject({
        outcome: 'success',
        application: { id: sp.entityId, protocol: 'saml' },
        details: { provider: 'ward' },
      });
    } finally {
      await samlPoort.stop();
    }
  });
});

describe('a SAML single logout after a sign-in at an upstream provider', () => {
  it('signs out at the provider too where sign_out is on, then answers the service provider', async () => {
    const sp = await ServiceProvider.create({ entityId: 'https://ward-2.example.test/sp' });
    const samlPoort = await startSamlPoort([{ sp }], {
      yaml: `upstream_providers:\n${provider('ward2', 'Ward', upstream.issuer, '    sign_out: true\n')}`,
    });
    try {
      await upstream.addClient({
        clientId: 'ward2-client',
        secret: UPSTREAM_SECRET,
        redirectUris: [`${samlPoort.issuer}/signin/upstream/ward2/callback`],
        postLogoutRedirectUris: [`${samlPoort.issuer}/signin/upstream/ward2/signed-out`],
        firstParty: true,
      });
      const browser = new Browser();
      const atUpstream = async () => {
        const page = await browser.navigate((await sp.redirectRequest()).url);
        const button = readForm(page, 'upstream-ward2');
        return browser.navigate(button.action, { form: button.fields });
      };
      const back = await submitPassword(browser, await atUpstream(), 'ulla', PASSWORD, sp.acsUrl);
      const result = await sp.validateResponse(readSamlPost(back)!.fields as { SAMLResponse: string });
      const logout = await sp.logoutRequest({
        nameId: result.nameId,
        nameIdFormat: result.nameIdFormat,
        spNameQualifier: result.spNameQualifier,
        sessionIndex: result.sessionIndex,
      });
      // the LogoutRequest ends Poort's session and sends the browser to sign out at the provider
      const there = await browser.navigate(logout.url, {}, sp.sloUrl);
      expect(there.url.startsWith(`${upstream.issuer}/session/end`)).toBe(true);
      const confirm = readForm(there, 'op.logoutForm');
      const done = await walk(
        browser,
        await browser.navigate(confirm.action, { form: { ...confirm.fields, logout: 'yes' } }, sp.sloUrl),
        undefined,
        sp.sloUrl,
      );
      const answer = await sp.validateWalkedLogoutResponse(done);
      expect(answer.status).toBe(STATUS.success);
      const [signedOut] = await samlPoort.services.audit.query({ action: 'logout.upstream', limit: 1 });
      expect(signedOut?.event).toMatchObject({ outcome: 'success', details: { provider: 'ward2' } });
      // the provider no longer knows this browser
      const next = await atUpstream();
      expect(next.url.startsWith(`${upstream.issuer}/`)).toBe(true);
      expect(isPasswordForm(next)).toBe(true);
    } finally {
      await samlPoort.stop();
    }
  });
});

describe('signing out of Poort after a sign-in at an upstream provider', () => {
  // a user of their own at the provider: a username in Poort belongs to one directory
  let keesUpstreamId: string;
  beforeAll(async () => {
    keesUpstreamId = await upstream.addUser({
      username: 'kees',
      password: PASSWORD,
      email: 'kees@kiosk.example',
    });
  });

  /** Signs `username` in to the app through `provider`'s button; the browser and the ID token. */
  async function signedInThrough(provider: string, username: string) {
    const { browser, pending, next } = await pressButton(provider);
    const tokens = await redeemCode(
      app,
      await submitPassword(browser, next, username, PASSWORD, REDIRECT),
      pending,
    );
    return { browser, idToken: tokens.id_token! };
  }
  /** Whether the provider still knows the browser: its button brings it straight back, without a password there. */
  async function upstreamKnows(browser: Browser, provider: string): Promise<boolean> {
    const page = await browser.navigate(
      (await startAuthorization(app, { redirectUri: REDIRECT, scope: SCOPE })).url.href,
    );
    const button = readForm(page, `upstream-${provider}`);
    const next = await browser.navigate(button.action, { form: button.fields }, REDIRECT);
    if (next.status === 0) return true;
    expect(isPasswordForm(next)).toBe(true);
    return false;
  }
  const endSession = (idToken: string) =>
    oidc.buildEndSessionUrl(app, { id_token_hint: idToken, post_logout_redirect_uri: SIGNED_OUT }).href;

  it('signs out there too where sign_out is on, then goes on to the application', async () => {
    const { browser, idToken } = await signedInThrough('kiosk', 'kees');
    const kees = (await poort.services.users.findExternal('upstream:kiosk', keesUpstreamId))!;
    const seq = await lastSeq(poort);
    // Poort's logout sends the browser to the provider's end_session_endpoint, whose own page confirms it
    const there = await signOutOfPoort(browser, endSession(idToken), SIGNED_OUT);
    expect(there.url.startsWith(`${upstream.issuer}/session/end`)).toBe(true);
    const confirm = readForm(there, 'op.logoutForm');
    const back = await browser.navigate(
      confirm.action,
      { form: { ...confirm.fields, logout: 'yes' } },
      SIGNED_OUT,
    );
    expect(back.status).toBe(0);
    expect(back.url.startsWith(SIGNED_OUT)).toBe(true);
    expect(byAction(await eventsSince(poort, seq), 'logout.upstream')).toEqual([
      expect.objectContaining({
        outcome: 'success',
        actor: { type: 'user', id: kees.id },
        subject: { id: kees.id },
        details: { provider: 'kiosk' },
      }),
    ]);
    expect(JSON.stringify(await eventsSince(poort, seq))).not.toContain(idToken.split('.')[2]!);
    // the next person at this computer meets the provider's password form, not kees's session there
    expect(await upstreamKnows(browser, 'kiosk')).toBe(false);
    // the way back works once
    const replay = await browser.request(
      back.url.replace(SIGNED_OUT, `${poort.issuer}/signin/upstream/kiosk/signed-out`),
    );
    expect(replay.status).toBe(400);
  });

  it('leaves the provider’s session alone where sign_out is off', async () => {
    const { browser, idToken } = await signedInThrough('hospital', 'ulla');
    const seq = await lastSeq(poort);
    const out = await signOutOfPoort(browser, endSession(idToken), SIGNED_OUT);
    expect(out.status).toBe(0);
    expect(out.url.startsWith(SIGNED_OUT)).toBe(true);
    expect(byAction(await eventsSince(poort, seq), 'logout.upstream')).toEqual([]);
    expect(await upstreamKnows(browser, 'hospital')).toBe(true);
  });

  it('ends Poort’s session anyway when the provider cannot be asked, and records it; another user’s sign-in drops it', async () => {
    const services = poort.services;
    const signOns = new UpstreamSignOns(
      services.upstream!,
      services.kv,
      { interaction: 60, session: 60 },
      services.audit,
      pino({ level: 'silent' }),
    );
    const seq = await lastSeq(poort);
    await signOns.remember('interaction-1', {
      provider: 'gone',
      idToken: 'header.payload.signature',
      accountId: 'u-1',
    });
    await signOns.adopt('interaction-1', 'session-1', 'u-1');
    expect(await signOns.afterLogout('session-1', `${poort.issuer}/session/end/success`)).toBeUndefined();
    expect(byAction(await eventsSince(poort, seq), 'logout.upstream')).toEqual([
      expect.objectContaining({
        outcome: 'failure',
        subject: { id: 'u-1' },
        details: { provider: 'gone', reason: 'upstream_unavailable' },
      }),
    ]);

    // a provider without sign_out keeps nothing; another user signing in to the same session drops what was kept
    await signOns.remember('interaction-2', { provider: 'hospital', idToken: 'h.p.s', accountId: 'u-2' });
    expect(await services.kv.get('upstream-signon-pending:interaction-2')).toBeUndefined();
    await signOns.remember('interaction-3', { provider: 'gone', idToken: 'h.p.s', accountId: 'u-3' });
    await signOns.adopt('interaction-3', 'session-2', 'u-3');
    await signOns.adopt('interaction-4', 'session-2', 'u-3');
    expect(await services.kv.get('upstream-signon:session-2')).toMatchObject({ accountId: 'u-3' });
    await signOns.adopt('interaction-5', 'session-2', 'u-4');
    expect(await services.kv.get('upstream-signon:session-2')).toBeUndefined();
    expect(await signOns.returned('gone', 'no-such-state')).toBeUndefined();
  });
});
