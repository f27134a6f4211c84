import crypto from 'node:crypto';
import path from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../../src/keys/keystore.js';
import { Browser } from '../helpers/browser.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  redeemCode,
  relyingParty,
  signIn,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };
const REDIRECT = 'http://127.0.0.1:7777/cb';

describe('signing key rotation on a running server', () => {
  let poort: TestPoort;
  let config: oidc.Configuration;
  /** The key folder as `poort keys` in another process sees it. */
  let cli: KeyStore;

  const publishedKids = async () =>
    ((await (await fetch(`${poort.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map(
      (k) => k.kid,
    );

  /** Polls the JWKS (up to 15 s) until `check` holds. */
  async function untilJwks(check: (kids: string[]) => boolean): Promise<string[]> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const kids = await publishedKids();
      if (check(kids)) return kids;
      if (Date.now() > deadline) throw new Error(`JWKS did not change in 15 s: ${kids.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  beforeAll(async () => {
    // long enough for a sign-in right after the rotation on a busy machine, which must still get the old key
    poort = await startPoort(`${FAST_ARGON2}keys: { activation_delay: 8s }\n`);
    await poort.addUser(ANNA);
    await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
    config = await relyingParty(poort, 'app', 'app-secret-0123456789');
    cli = new KeyStore(path.join(poort.dir, 'keys'), 8);
  });
  afterAll(async () => poort?.stop());

  it('publishes the new keys at once, signs with them after the activation delay, keeps old tokens verifiable, and signs nobody out', async () => {
    const currentRsa = () => cli.activeKey('RS256')!.kid;
    const oldRsa = currentRsa();
    const before = await publishedKids();
    expect(before).toHaveLength(2);
    expect(before).toContain(oldRsa);

    const browser = new Browser();
    const { tokens: oldTokens } = await signIn(config, browser, ANNA, { redirectUri: REDIRECT });
    expect(decodeProtectedHeader(oldTokens.id_token!).kid).toBe(oldRsa);

    const added = await cli.rotate();
    const newRsa = added.find((k) => k.alg === 'RS256')!.kid;
    const after = await untilJwks((kids) => kids.includes(newRsa));
    expect(after).toEqual(expect.arrayContaining([...before, ...added.map((k) => k.kid)]));
    expect(after).toHaveLength(4);

    // Published, but not signing yet: applications that cached the key set get time to see it.
    const early = await signIn(config, new Browser(), ANNA, { redirectUri: REDIRECT });
    expect(decodeProtectedHeader(early.tokens.id_token!).kid).toBe(oldRsa);

    // Once the activation delay has passed the new key signs, first in the key set. openid-client refetches a key
    // set for an unknown kid only when its copy is a minute old: the default delay (2m) outlasts that, this test's
    // 8 s does not, so the application starts afresh here.
    await untilJwks((kids) => kids[0] === newRsa);
    config = await relyingParty(poort, 'app', 'app-secret-0123456789');
    // The same browser is still signed in; its new ID token carries the new key's kid.
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    const callback = await authorizeInBrowser(browser, pending);
    expect(callback.status).toBe(0);
    const newTokens = await redeemCode(config, callback, pending);
    expect(decodeProtectedHeader(newTokens.id_token!)).toMatchObject({ alg: 'RS256', kid: newRsa });

    const jwks = createRemoteJWKSet(new URL(`${poort.issuer}/jwks`));
    await expect(
      jwtVerify(oldTokens.id_token!, jwks, { issuer: poort.issuer, audience: 'app' }),
    ).resolves.toBeTruthy();
    await expect(
      jwtVerify(newTokens.id_token!, jwks, { issuer: poort.issuer, audience: 'app' }),
    ).resolves.toBeTruthy();

    // Refreshing a grant made before the rotation works and uses the new key.
    const refreshed = await oidc.refreshTokenGrant(config, oldTokens.refresh_token!);
    expect(decodeProtectedHeader(refreshed.id_token!).kid).toBe(newRsa);
  });

  it('stops publishing a retired key, and refuses to retire a current one', async () => {
    const keys = cli.signingKeys();
    const current = cli.activeKey('RS256')!;
    const retired = keys.filter((k) => k.alg === 'RS256' && k.kid !== current.kid);
    expect(retired.length).toBeGreaterThan(0);
    for (const k of retired) cli.retire(k.kid);
    const kids = await untilJwks((list) => retired.every((k) => !list.includes(k.kid)));
    expect(kids).toContain(current.kid);

    expect(() => cli.retire(current.kid)).toThrow(/current RS256 signing key/);
    expect(await publishedKids()).toContain(current.kid);
    const { tokens } = await signIn(config, new Browser(), ANNA, { redirectUri: REDIRECT });
    expect(decodeProtectedHeader(tokens.id_token!).kid).toBe(current.kid);
  });
});

/** The cookie that holds the single sign-on session (oidc-provider's), and its signature beside it. */
const SESSION_COOKIE = '_session';

/** How Keygrip (oidc-provider's cookies) signs `name=value` with `key`: HMAC-SHA1, URL-safe base64 without padding. */
const keygripSign = (data: string, key: string) =>
  crypto.createHmac('sha1', key).update(data).digest('base64url');

describe('cookie key rotation on a running server', () => {
  let poort: TestPoort;
  let config: oidc.Configuration;
  let cli: KeyStore;
  const lines: string[] = [];

  beforeAll(async () => {
    // the new cookie key signs at once here; the activation delay is the key store's own test
    poort = await startPoort(`${FAST_ARGON2}keys: { activation_delay: 0s }\n`, {
      log: pino({ level: 'info', base: undefined }, { write: (line: string) => lines.push(line) }),
    });
    await poort.addUser(ANNA);
    await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
    config = await relyingParty(poort, 'app', 'app-secret-0123456789');
    cli = new KeyStore(path.join(poort.dir, 'keys'), 0);
  });
  afterAll(async () => poort?.stop());

  /** Which cookie key signed the browser's session cookie (its id), or undefined. */
  function signedBy(browser: Browser): string | undefined {
    const cookie = (name: string) => [...browser.cookies.values()].find((c) => c.name === name)?.value;
    const value = cookie(SESSION_COOKIE);
    const sig = cookie(`${SESSION_COOKIE}.sig`);
    if (!value || !sig) return undefined;
    return cli.cookieKeys().find((k) => keygripSign(`${SESSION_COOKIE}=${value}`, k.key) === sig)?.id;
  }

  /** Waits (up to 15 s) until the server logged that it reloaded its keys `n` times. */
  async function reloads(n: number): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (lines.filter((l) => l.includes('"event":"keys.reloaded"')).length < n) {
      if (Date.now() > deadline) throw new Error('the server did not reload its keys within 15 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const sso = async (browser: Browser) =>
    authorizeInBrowser(browser, await startAuthorization(config, { redirectUri: REDIRECT }));

  it('signs new sessions with the new key, keeps old sessions, and ends those of a retired key', async () => {
    const [first] = cli.cookieKeys();
    const kept = new Browser();
    const dropped = new Browser();
    await signIn(config, kept, ANNA, { redirectUri: REDIRECT });
    await signIn(config, dropped, ANNA, { redirectUri: REDIRECT });
    expect(signedBy(kept)).toBe(first!.id);
    expect(signedBy(dropped)).toBe(first!.id);

    const added = await cli.rotateCookieKey();
    await reloads(1);
    expect(lines.at(-1)).toContain(added.id);
    expect(lines.join('\n')).not.toContain(added.key);
    // a new session is signed with the new key
    const fresh = new Browser();
    await signIn(config, fresh, ANNA, { redirectUri: REDIRECT });
    expect(signedBy(fresh)).toBe(added.id);
    // an old session still works, without the password, and is signed anew with the new key
    expect((await sso(kept)).status).toBe(0);
    expect(signedBy(kept)).toBe(added.id);

    await cli.retireCookieKey(first!.id);
    await reloads(2);
    // a session signed only with the retired key is gone: the password is asked again
    const asked = await sso(dropped);
    expect(asked.status).toBe(200);
    expect(asked.body).toContain('autocomplete="current-password"');
    expect((await sso(kept)).status).toBe(0);
  });
});
