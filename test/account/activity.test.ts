import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIVITY_LIMIT, activityOf } from '../../src/account/activity.js';
import type { StoredAuditEvent } from '../../src/audit/event.js';
import { accountSignIn } from '../helpers/account.js';
import { Browser } from '../helpers/browser.js';
import { FAST_ARGON2, passwordSignsIn, relyingParty } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'a passphrase nobody guesses';
const SECRET = 'app-secret-0123456789';
const REDIRECT = 'http://127.0.0.1:7962/cb';
const DUTCH_ADDRESS = '145.97.39.155';
const AMERICAN_ADDRESS = '8.8.8.8';
const FIREFOX_ON_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';

/** The rows of the activity table: each cell's text. */
function rowsOf(html: string): string[][] {
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? '';
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1]!.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((cell) =>
      cell[1]!.replace(/<[^>]+>/g, '').trim(),
    ),
  );
}

// A person sees where and when their account signed in, and the attempts that failed: a stranger's shows up.
describe('recent sign-ins on the account page', () => {
  let poort: TestPoort;

  beforeAll(async () => {
    poort = await startPoort(`${FAST_ARGON2}server: { trust_proxy: [127.0.0.1/32, "::1/128"] }\n`);
    await poort.addUser({ username: 'fleur', password: PASSWORD, email: 'fleur@example.org' });
    await poort.addUser({ username: 'gijs', password: PASSWORD, email: 'gijs@example.org' });
    await poort.addClient({ clientId: 'wiki', secret: SECRET, redirectUris: [REDIRECT] });
  });
  afterAll(async () => poort?.stop());

  it('lists the account’s own sign-ins and failed attempts, newest first, with browser, country and address', async () => {
    const wiki = await relyingParty(poort, 'wiki', SECRET);
    // someone abroad guesses; fleur signs in to the wiki from the Netherlands; gijs's attempts are his own
    const stranger = { 'x-forwarded-for': AMERICAN_ADDRESS, 'user-agent': 'curl/8.5.0' };
    expect(await passwordSignsIn(wiki, REDIRECT, { username: 'fleur', password: 'not it' }, stranger)).toBe(
      false,
    );
    const fleur = { 'x-forwarded-for': DUTCH_ADDRESS, 'user-agent': FIREFOX_ON_WINDOWS };
    expect(await passwordSignsIn(wiki, REDIRECT, { username: 'fleur', password: PASSWORD }, fleur)).toBe(
      true,
    );
    expect(await passwordSignsIn(wiki, REDIRECT, { username: 'gijs', password: 'not his' })).toBe(false);

    const browser = new Browser({ ...fleur, 'accept-language': 'en' });
    const { page } = await accountSignIn(poort, 'fleur', PASSWORD, { browser });
    expect(page.body).toContain('Recent sign-ins');
    const activity = await browser.navigate(`${poort.issuer}/account/security/activity`);
    expect(activity.status).toBe(200);
    expect(activity.headers.get('cache-control')).toContain('no-store');
    const rows = rowsOf(activity.body);
    expect(rows.map((r) => r.slice(1))).toEqual([
      // the account page's own sign-in
      ['Signed in', 'Firefox on Windows', 'Netherlands', DUTCH_ADDRESS, 'poort-account'],
      ['Signed in', 'Firefox on Windows', 'Netherlands', DUTCH_ADDRESS, 'wiki'],
      ['Wrong password', 'Unknown', 'United States', AMERICAN_ADDRESS, 'wiki'],
    ]);
    expect(activity.body).toMatch(/<caption id="activity-caption">Sign-ins and attempts<\/caption>/);
    // the table scrolls on a narrow screen: a region the keyboard can reach
    expect(activity.body).toContain('role="region" aria-labelledby="activity-caption" tabindex="0"');
    expect(activity.body).toMatch(/<th scope="row"><time datetime="\d{4}-\d\d-\d\dT[^"]+">/);
    expect(activity.body).toContain('<strong>Wrong password</strong>');
    expect(activity.body).not.toContain('gijs');

    const dutch = await browser.navigate(`${poort.issuer}/account/security/activity?lang=nl`);
    expect(dutch.body).toContain('<html lang="nl"');
    expect(rowsOf(dutch.body)[2]!.slice(1, 4)).toEqual([
      'Verkeerd wachtwoord',
      'Onbekend',
      'Verenigde Staten',
    ]);
  });

  it('is for the signed-in person only', async () => {
    const visit = await new Browser().request(`${poort.issuer}/account/security/activity`);
    expect(visit.status).toBe(303);
    expect(visit.headers.get('location')).toMatch(/\/auth\?/);
  });
});

describe('activityOf', () => {
  const event = (seq: number, action: string, more: Record<string, unknown> = {}): StoredAuditEvent =>
    ({
      seq,
      event: {
        id: String(seq),
        time: `2026-12-0${1 + (seq % 9)}T10:00:00.000Z`,
        action,
        outcome: 'success',
        actor: { type: 'user' },
        subject: { id: 'u1' },
        ...more,
      },
    }) as unknown as StoredAuditEvent;

  it('tells the attempts apart, and leaves out what is not an attempt or not this account’s', () => {
    const rows = activityOf(
      [
        event(9, 'signin.completed', {
          source: { ip: '192.0.2.1', country: 'NL', device: { browser: 'Firefox' } },
        }),
        event(8, 'signin.password', { outcome: 'success' }),
        event(7, 'signin.password', { outcome: 'failure', details: { failure: 'wrong_password' } }),
        event(6, 'signin.password', { outcome: 'failure', details: { failure: 'locked' } }),
        event(5, 'signin.password', { outcome: 'failure', reason: 'directory_unavailable' }),
        event(4, 'signin.mfa', { outcome: 'failure', reason: 'invalid_code' }),
        event(3, 'signin.throttled', { outcome: 'denied' }),
        event(2, 'signin.denied', { outcome: 'denied' }),
        event(1, 'signin.completed', { subject: { id: 'u2' } }),
        event(0, 'consent.given'),
      ],
      'u1',
    );
    expect(rows.map((r) => r.kind)).toEqual([
      'signed_in',
      'wrong_password',
      'failed',
      'second_factor_failed',
      'throttled',
      'denied',
    ]);
    expect(rows[0]).toMatchObject({ ok: true, browser: 'Firefox', country: 'NL', ip: '192.0.2.1' });
    expect(rows.slice(1).every((r) => !r.ok)).toBe(true);
    const many = Array.from({ length: ACTIVITY_LIMIT + 5 }, (_, i) => event(i, 'signin.completed'));
    expect(activityOf(many, 'u1')).toHaveLength(ACTIVITY_LIMIT);
  });
});
