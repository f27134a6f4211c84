import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import { FAST_ARGON2, isPasswordForm, relyingParty, startAuthorization } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'http://127.0.0.1:7777/cb';
const SECRET = 'app-secret-0123456789';

async function setUp(yaml: string): Promise<{ poort: TestPoort; config: oidc.Configuration }> {
  const poort = await startPoort(FAST_ARGON2 + yaml);
  await poort.addUser({ username: 'anna', password: PASSWORD });
  await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
  return { poort, config: await relyingParty(poort, 'app', SECRET) };
}

/** A browser on the password form of a fresh authorization request. */
async function openSignIn(config: oidc.Configuration, headers: Record<string, string> = {}) {
  const browser = new Browser(headers);
  const page = await browser.navigate((await startAuthorization(config, { redirectUri: REDIRECT })).url.href);
  expect(isPasswordForm(page)).toBe(true);
  const form = readForm(page);
  const attempt = (username: string, password: string): Promise<Page> =>
    browser.navigate(form.action, { form: { ...form.fields, username, password } }, REDIRECT);
  return { browser, attempt };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('throttling per account', () => {
  let poort: TestPoort;
  let config: oidc.Configuration;
  beforeAll(async () => {
    ({ poort, config } = await setUp(
      // a block longer than 20 parallel attempts take on a busy machine (Redis serialises them with retries)
      'throttle: { account: { free_attempts: 5, base_delay: 5s, max_delay: 5s, window: 1m } }\n',
    ));
  });
  afterAll(async () => poort?.stop());

  it('lets exactly free_attempts of 20 parallel wrong passwords be tried; the rest wait, and then the right password works', async () => {
    const { attempt } = await openSignIn(config);
    const pages = await Promise.all(
      Array.from({ length: 20 }, (_, i) => attempt('anna', `wrong password ${i}`)),
    );

    const statuses = pages.map((p) => p.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
    const throttled = pages.filter((p) => p.status === 429);
    for (const page of throttled) {
      expect(page.headers.get('retry-after')).toMatch(/^[1-5]$/);
      expect(page.body).toMatch(/role="alert"[\s\S]*Too many attempts\. Try again in [1-5] seconds?\./);
    }

    // While blocked even the right password is refused, so the block says nothing about it.
    expect((await attempt('anna', PASSWORD)).status).toBe(429);
    // The name as typed is what counts: case and spacing do not open a fresh budget.
    expect((await attempt('  ANNA ', PASSWORD)).status).toBe(429);

    const wait = Math.max(...throttled.map((p) => Number(p.headers.get('retry-after'))));
    await sleep(wait * 1000 + 100);
    const done = await attempt('anna', PASSWORD);
    expect(done.status).toBe(0);
    expect(done.url.startsWith(`${REDIRECT}?code=`)).toBe(true);
  });

  it('counts unknown accounts like known ones', async () => {
    const { attempt } = await openSignIn(config);
    const pages = await Promise.all(
      Array.from({ length: 8 }, () => attempt('nobody-here', 'whatever password')),
    );
    expect(pages.filter((p) => p.status === 401)).toHaveLength(5);
    expect(pages.filter((p) => p.status === 429)).toHaveLength(3);
  });
});

describe('throttling per client IP', () => {
  let poort: TestPoort;
  let config: oidc.Configuration;
  beforeAll(async () => {
    // The test's requests come from 127.0.0.1, a trusted proxy here: X-Forwarded-For names the client.
    ({ poort, config } = await setUp(
      "server: { trust_proxy: ['127.0.0.1'] }\nthrottle: { ip: { free_attempts: 3, base_delay: 1s, max_delay: 2s, window: 1m } }\n",
    ));
  });
  afterAll(async () => poort?.stop());

  it('blocks an IP that tries many accounts, whichever account it tries next, and only that IP', async () => {
    const attacker = await openSignIn(config, { 'x-forwarded-for': '203.0.113.7' });
    const guesses = await Promise.all(
      ['bert', 'carla', 'dirk', 'eva', 'fleur'].map((u) => attacker.attempt(u, 'Welkom01!')),
    );
    expect(guesses.filter((p) => p.status === 401)).toHaveLength(3);
    expect(guesses.filter((p) => p.status === 429)).toHaveLength(2);
    const blocked = await attacker.attempt('anna', PASSWORD);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toMatch(/^[12]$/);

    const colleague = await openSignIn(config, { 'x-forwarded-for': '198.51.100.8' });
    expect((await colleague.attempt('anna', PASSWORD)).status).toBe(0);

    await sleep(Number(blocked.headers.get('retry-after')) * 1000 + 100);
    expect((await attacker.attempt('anna', PASSWORD)).status).toBe(0);
  });

  it('counts an IPv6 client by its /64', async () => {
    const first = await openSignIn(config, { 'x-forwarded-for': '2001:db8:1:2::10' });
    for (const u of ['a1', 'a2', 'a3']) expect((await first.attempt(u, 'nope nope nope')).status).toBe(401);
    const neighbour = await openSignIn(config, { 'x-forwarded-for': '2001:db8:1:2::99' });
    expect((await neighbour.attempt('anna', PASSWORD)).status).toBe(429);
  });
});

describe('throttling behind an untrusted peer', () => {
  let poort: TestPoort;
  let config: oidc.Configuration;
  beforeAll(async () => {
    ({ poort, config } = await setUp(
      // a delay far longer than the test takes on a busy machine: the fifth attempt is still blocked
      'throttle: { ip: { free_attempts: 3, base_delay: 1m, max_delay: 2m, window: 5m } }\n',
    ));
  });
  afterAll(async () => poort?.stop());

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const results: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { attempt } = await openSignIn(config, { 'x-forwarded-for': `192.0.2.${i}` });
      results.push((await attempt(`user${i}`, 'nope nope nope')).status);
    }
    expect(results).toEqual([401, 401, 401, 429, 429]);
  });
});
