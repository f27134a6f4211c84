import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  isPasswordForm,
  relyingParty,
  signIn,
  startAuthorization,
  verifiedLogoutToken,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };
const REDIRECT = 'http://127.0.0.1:7777/cb';
const LOGGED_OUT = 'http://127.0.0.1:7777/logged-out';

/** The confirmation page's form, submitted with the button the person pressed. */
async function answerLogout(browser: Browser, page: Page, signOut: boolean, stopAt: string): Promise<Page> {
  const form = readForm(page, 'op.logoutForm');
  return browser.navigate(
    form.action,
    { form: signOut ? { ...form.fields, logout: 'yes' } : form.fields },
    stopAt,
  );
}

describe('single sign-on and RP-initiated logout', () => {
  let poort: TestPoort;
  let app: oidc.Configuration;
  let other: oidc.Configuration;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    await poort.addUser({ username: 'anna', password: PASSWORD });
    await poort.addClient({
      clientId: 'app',
      secret: 'app-secret-0123456789',
      redirectUris: [REDIRECT],
      postLogoutRedirectUris: [LOGGED_OUT],
    });
    await poort.addClient({ clientId: 'other', secret: 'other-secret-0123456789', redirectUris: [REDIRECT] });
    app = await relyingParty(poort, 'app', 'app-secret-0123456789');
    other = await relyingParty(poort, 'other', 'other-secret-0123456789');
  });
  afterAll(async () => poort?.stop());

  it('signs the same browser in again without the password form, for the same and for another application', async () => {
    const browser = new Browser();
    const first = await signIn(app, browser, ANNA, { redirectUri: REDIRECT });

    for (const rp of [app, other]) {
      const pending = await startAuthorization(rp, { redirectUri: REDIRECT });
      const callback = await authorizeInBrowser(browser, pending);
      expect(callback.status).toBe(0);
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback.url), {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
      });
      // Still the sign-in of the first request: same person, same time, same method.
      expect(tokens.claims()).toMatchObject({
        sub: first.tokens.claims()!.sub,
        auth_time: first.tokens.claims()!.auth_time,
        acr: 'urn:poort:acr:password',
        amr: ['pwd'],
      });
      // oidc-provider names the session differently for each application, so applications cannot correlate it.
      if (rp === app) expect(tokens.claims()!.sid).toBe(first.tokens.claims()!.sid);
      else expect(tokens.claims()!.sid).not.toBe(first.tokens.claims()!.sid);
    }
  });

  it('asks for confirmation, ends the session, returns to the post_logout_redirect_uri with state, and forgets the sign-in', async () => {
    const browser = new Browser();
    const { tokens } = await signIn(app, browser, ANNA, { redirectUri: REDIRECT });

    const endSession = oidc.buildEndSessionUrl(app, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: LOGGED_OUT,
      state: 'bye-123',
    });
    const confirmation = await browser.navigate(endSession.href);
    expect(confirmation.status).toBe(200);
    expect(confirmation.body).toContain('id="op.logoutForm"');
    expect(confirmation.body).toMatch(/<button[^>]*form="op\.logoutForm"[^>]*name="logout"[^>]*value="yes"/);

    const back = await answerLogout(browser, confirmation, true, LOGGED_OUT);
    expect(back.status).toBe(0);
    expect(new URL(back.url).searchParams.get('state')).toBe('bye-123');

    const again = await authorizeInBrowser(browser, await startAuthorization(app, { redirectUri: REDIRECT }));
    expect(isPasswordForm(again)).toBe(true);
  });

  it('shows a signed-out page when the application gives no post_logout_redirect_uri', async () => {
    const browser = new Browser();
    const { tokens } = await signIn(app, browser, ANNA, { redirectUri: REDIRECT });
    const confirmation = await browser.navigate(
      oidc.buildEndSessionUrl(app, { id_token_hint: tokens.id_token! }).href,
    );
    const done = await answerLogout(browser, confirmation, true, LOGGED_OUT);
    expect(done.status).toBe(200);
    expect(done.body).toContain('You are signed out');
  });

  it('never redirects to a post_logout_redirect_uri the application did not register', async () => {
    const browser = new Browser();
    const { tokens } = await signIn(app, browser, ANNA, { redirectUri: REDIRECT });
    const endSession = oidc.buildEndSessionUrl(app, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: 'https://evil.example/',
    });
    const page = await browser.request(endSession.href);
    expect(page.status).toBe(400);
    expect(page.headers.get('location')).toBeNull();
    expect(page.body).toContain('<code>invalid_request</code>');
  });

  it('keeps the single sign-on session when the person declines to sign out', async () => {
    const browser = new Browser();
    const { tokens } = await signIn(app, browser, ANNA, { redirectUri: REDIRECT });
    const confirmation = await browser.navigate(
      oidc.buildEndSessionUrl(app, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: LOGGED_OUT })
        .href,
    );
    await answerLogout(browser, confirmation, false, LOGGED_OUT);

    const again = await authorizeInBrowser(
      browser,
      await startAuthorization(other, { redirectUri: REDIRECT }),
    );
    expect(again.status).toBe(0);
  });
});

describe('back-channel logout', () => {
  let poort: TestPoort;
  let receiver: Receiver;
  let wiki: oidc.Configuration;
  let chat: oidc.Configuration;

  beforeAll(async () => {
    [poort, receiver] = await Promise.all([startPoort(FAST_ARGON2), startReceiver()]);
    await poort.addUser({ username: 'anna', password: PASSWORD });
    // oidc-provider accepts an http back-channel URI; Poort delivers to loopback and private addresses too.
    await poort.addClient({
      clientId: 'wiki',
      secret: 'wiki-secret-0123456789',
      redirectUris: [REDIRECT],
      postLogoutRedirectUris: [LOGGED_OUT],
      backchannelLogoutUri: receiver.url('/wiki/bcl'),
    });
    await poort.addClient({
      clientId: 'chat',
      secret: 'chat-secret-0123456789',
      redirectUris: [REDIRECT],
      backchannelLogoutUri: receiver.url('/chat/bcl'),
    });
    wiki = await relyingParty(poort, 'wiki', 'wiki-secret-0123456789');
    chat = await relyingParty(poort, 'chat', 'chat-secret-0123456789');
  });
  afterAll(async () => {
    await poort?.stop();
    await receiver?.close();
  });

  it('posts a signed logout token to every application of the session when the person signs out', async () => {
    const browser = new Browser();
    const { tokens } = await signIn(wiki, browser, ANNA, { redirectUri: REDIRECT });
    const chatSignIn = await signIn(chat, browser, ANNA, { redirectUri: REDIRECT });
    const idTokens = { wiki: tokens.claims()!, chat: chatSignIn.tokens.claims()! };

    const confirmation = await browser.navigate(
      oidc.buildEndSessionUrl(wiki, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: LOGGED_OUT })
        .href,
    );
    expect((await answerLogout(browser, confirmation, true, LOGGED_OUT)).status).toBe(0);

    for (const [clientId, path] of [
      ['wiki', '/wiki/bcl'],
      ['chat', '/chat/bcl'],
    ] as const) {
      const request = await receiver.waitFor(path);
      expect(request.method).toBe('POST');
      expect(request.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
      const payload = await verifiedLogoutToken(poort.issuer, request, clientId);
      expect(payload.sub).toBe(idTokens[clientId].sub);
      expect(payload.sid).toBe(idTokens[clientId].sid);
    }
  });
});
