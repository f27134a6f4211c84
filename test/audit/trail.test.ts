import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredAuditEvent } from '../../src/audit/event.js';
import { refuseInserts } from '../helpers/backend.js';
import { Browser } from '../helpers/browser.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  relyingParty,
  signOutOfPoort,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const REDIRECT = 'http://127.0.0.1:7801/cb';
const PASSWORD = 'a passphrase nobody guesses';
const SECRET = 'trail-client-secret-0123456789';

async function newEvents(poort: TestPoort, after: number): Promise<StoredAuditEvent[]> {
  return poort.services.audit.readAfter(after, 1000);
}

async function head(poort: TestPoort): Promise<number> {
  const [last] = await poort.services.audit.query({ limit: 1 });
  return last?.seq ?? 0;
}

describe('audit trail: every attempt is recorded', () => {
  let poort: TestPoort;
  let config: oidc.Configuration;
  let userId: string;

  beforeAll(async () => {
    poort = await startPoort(
      `${FAST_ARGON2}throttle: { account: { free_attempts: 2, base_delay: 30s, max_delay: 1m, window: 1m } }\n`,
    );
    userId = await poort.addUser({ username: 'bram', password: PASSWORD });
    await poort.addClient({
      clientId: 'trail',
      secret: SECRET,
      redirectUris: [REDIRECT],
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
    });
    config = await relyingParty(poort, 'trail', SECRET);
  });
  afterAll(async () => poort?.stop());

  it('records a successful sign-in and the tokens it led to, with context and without secrets', async () => {
    const before = await head(poort);
    const browser = new Browser({
      'user-agent':
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1',
    });
    const pending = await startAuthorization(config, {
      redirectUri: REDIRECT,
      scope: 'openid offline_access',
    });
    const done = await authorizeInBrowser(browser, pending, { username: 'bram', password: PASSWORD });
    const tokens = await oidc.authorizationCodeGrant(config, new URL(done.url), {
      pkceCodeVerifier: pending.verifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
    });
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    await oidc.tokenRevocation(config, refreshed.refresh_token!);

    const events = await newEvents(poort, before);
    expect(events.map((e) => e.event.action)).toEqual([
      'signin.password',
      'signin.completed',
      'token.issued',
      'token.refreshed',
      'token.revoked',
    ]);
    const [password, completed, issued] = events;
    expect(password!.event).toMatchObject({
      outcome: 'success',
      actor: { type: 'user', id: userId, name: 'bram' },
      subject: { id: userId, username: 'bram', known: true },
      application: { id: 'trail', protocol: 'oidc' },
      source: { ip: '127.0.0.1', country: null, device: { type: 'mobile', os: 'iOS', browser: 'Safari' } },
    });
    expect(password!.event.correlation).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(completed!.event.correlation).toBe(password!.event.correlation);
    expect(completed!.event.details).toEqual({ amr: ['pwd'], acr: 'urn:poort:acr:password' });
    expect(issued!.event).toMatchObject({
      outcome: 'success',
      subject: { id: userId },
      details: { grant_type: 'authorization_code' },
    });

    // No secret of any kind in the trail: not the password, the client secret, the code, a token or a cookie.
    const trail = JSON.stringify(events);
    const code = new URL(done.url).searchParams.get('code')!;
    for (const secret of [
      PASSWORD,
      SECRET,
      code,
      tokens.access_token,
      tokens.refresh_token!,
      tokens.id_token!,
      refreshed.access_token,
    ]) {
      expect(trail).not.toContain(secret);
    }
    for (const cookie of browser.cookies.values()) expect(trail).not.toContain(cookie.value);
  });

  it('records a wrong password and an unknown user (as typed, marked unknown) alike for the user, apart for the auditor', async () => {
    const before = await head(poort);
    for (const username of ['bram', 'Nobody-Here']) {
      const pending = await startAuthorization(config, { redirectUri: REDIRECT });
      const page = await authorizeInBrowser(new Browser(), pending, {
        username,
        password: 'wrong password here',
      });
      expect(page.status).toBe(401);
    }
    const events = await newEvents(poort, before);
    expect(events).toHaveLength(2);
    expect(events[0]!.event).toMatchObject({
      action: 'signin.password',
      outcome: 'failure',
      reason: 'invalid_credentials',
      subject: { username: 'bram', known: true, id: userId },
      details: { failure: 'wrong_password' },
    });
    expect(events[1]!.event).toMatchObject({
      action: 'signin.password',
      outcome: 'failure',
      reason: 'invalid_credentials',
      subject: { username: 'nobody-here', known: false },
      details: { failure: 'unknown_user' },
    });
    expect(events[1]!.event.subject).not.toHaveProperty('id');
    expect(JSON.stringify(events)).not.toContain('wrong password here');
  });

  it('records throttled attempts', async () => {
    const before = await head(poort);
    for (let i = 0; i < 3; i++) {
      const pending = await startAuthorization(config, { redirectUri: REDIRECT });
      await authorizeInBrowser(new Browser(), pending, { username: 'carla', password: 'not the password' });
    }
    const events = await newEvents(poort, before);
    expect(events.map((e) => `${e.event.action}:${e.event.outcome}`)).toEqual([
      'signin.password:failure',
      'signin.password:failure',
      'signin.throttled:denied',
    ]);
    expect(events[2]!.event).toMatchObject({
      reason: 'throttled',
      subject: { username: 'carla', known: false },
    });
  });

  it('records requests rejected before authentication: unknown client, unregistered redirect, bad client secret', async () => {
    const before = await head(poort);
    const browser = new Browser();
    await browser.request(
      `${poort.issuer}/auth?client_id=nope&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT)}`,
    );
    await browser.request(
      `${poort.issuer}/auth?client_id=trail&response_type=code&scope=openid&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`,
    );
    const bad = await relyingParty(poort, 'trail', 'not-the-secret-0123456789');
    await expect(oidc.clientCredentialsGrant(bad)).rejects.toThrow();
    const events = await newEvents(poort, before);
    expect(events.map((e) => [e.event.action, e.event.reason])).toEqual([
      ['signin.rejected', 'invalid_client'],
      ['signin.rejected', 'invalid_redirect_uri'],
      ['token.rejected', 'invalid_client'],
    ]);
    expect(JSON.stringify(events)).not.toContain('not-the-secret-0123456789');
  });

  it('records logout', async () => {
    const browser = new Browser();
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    const done = await authorizeInBrowser(browser, pending, { username: 'bram', password: PASSWORD });
    const tokens = await oidc.authorizationCodeGrant(config, new URL(done.url), {
      pkceCodeVerifier: pending.verifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
    });
    const before = await head(poort);
    await signOutOfPoort(browser, oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token! }).href);
    const events = await newEvents(poort, before);
    expect(events.map((e) => e.event.action)).toEqual(['logout']);
    expect(events[0]!.event).toMatchObject({
      outcome: 'success',
      subject: { id: userId },
      application: { id: 'trail' },
    });
  });
});

describe('audit trail: fail closed', () => {
  let poort: TestPoort;
  let config: oidc.Configuration;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    await poort.addUser({ username: 'dirk', password: PASSWORD });
    await poort.addClient({
      clientId: 'closed',
      secret: SECRET,
      redirectUris: [REDIRECT],
      grantTypes: ['authorization_code', 'client_credentials'],
    });
    config = await relyingParty(poort, 'closed', SECRET);
  });
  afterAll(async () => poort?.stop());

  /** Makes every insert into the trail fail, as a full disk or a broken database would. */
  const breakTheTrail = () =>
    refuseInserts(poort.services.db, poort.services.config.storage.durable, 'audit_events', 'disk full');

  it('refuses the sign-in with a generic error when the event cannot be stored', async () => {
    const repair = await breakTheTrail();
    try {
      const pending = await startAuthorization(config, { redirectUri: REDIRECT });
      const page = await authorizeInBrowser(new Browser(), pending, { username: 'dirk', password: PASSWORD });
      expect(page.status).toBe(503);
      expect(page.body).toContain('temporarily unavailable');
      expect(page.body).not.toMatch(/disk full|at .*\.ts:\d+/);
      expect(page.url).not.toContain(REDIRECT);
    } finally {
      await repair();
    }
  });

  it('withholds a token it cannot record', async () => {
    const repair = await breakTheTrail();
    try {
      await expect(oidc.clientCredentialsGrant(config)).rejects.toThrow();
      const res = await fetch(`${poort.issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`closed:${SECRET}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
      });
      expect(res.status).toBe(503);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    } finally {
      await repair();
    }
    await expect(oidc.clientCredentialsGrant(config)).resolves.toHaveProperty('access_token');
  });

  it('fails only the append of an event that cannot be serialised, not the others committed with it', async () => {
    const before = await head(poort);
    const good = (i: number) =>
      poort.services.audit.append({
        action: 'signin.rejected',
        outcome: 'failure',
        actor: { type: 'user' },
        reason: `batch-${i}`,
      });
    // queued in one turn of the event loop: one group commit
    const results = await Promise.allSettled([
      good(1),
      poort.services.audit.append({
        action: 'signin.rejected',
        outcome: 'failure',
        actor: { type: 'user' },
        details: { ratio: Number.NaN },
      }),
      good(2),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const stored = await newEvents(poort, before);
    expect(stored.map((e) => e.event.reason)).toEqual(['batch-1', 'batch-2']);
    expect((await poort.services.audit.verify()).ok).toBe(true);
  });

  it('keeps an event whose text has a lone surrogate, with U+FFFD in its place, and the chain verifies', async () => {
    const before = await head(poort);
    await poort.services.audit.append({
      action: 'signin.rejected',
      outcome: 'failure',
      actor: { type: 'user' },
      subject: { username: 'typed \ud800 name', known: false },
      details: { list: ['x\udc00'], ['key \udbff']: 1 },
    });
    const [stored] = await newEvents(poort, before);
    expect(stored!.event.subject?.username).toBe('typed \ufffd name');
    expect(stored!.event.details).toEqual({ list: ['x\ufffd'], ['key \ufffd']: 1 });
    expect((await poort.services.audit.verify()).ok).toBe(true);
  });
});
