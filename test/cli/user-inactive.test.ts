import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import type { UserRecord } from '../../src/directory/users.js';
import { Browser } from '../helpers/browser.js';
import { runCliOn } from '../helpers/cli.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  passwordSignsIn,
  relyingParty,
  signIn,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const REDIRECT = 'http://127.0.0.1:7923/cb';
const SECRET = 'app-secret-0123456789';
const PASSWORD = 'a passphrase nobody guesses';
const DAY = 86400_000;

// Access reviews and leavers nobody reported (ISO 27001 A.5.18): who has not signed in for a long time, and
// disabling those accounts from a scheduled job.
describe('last sign-in and dormant accounts', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let app: oidc.Configuration;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    app = await relyingParty(poort, 'app', SECRET);
  });
  afterAll(async () => poort?.stop());

  const run = (args: string[]) => runCliOn(poort, args);
  const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();
  /** Moves a user's history back in time, as if the account were old. */
  async function age(username: string, times: { created?: number; lastSignIn?: number }) {
    await poort.services.db
      .updateTable('users')
      .set({
        ...(times.created !== undefined ? { created_at: daysAgo(times.created) } : {}),
        ...(times.lastSignIn !== undefined ? { last_signin_at: daysAgo(times.lastSignIn) } : {}),
      })
      .where('username', '=', username)
      .execute();
  }
  const canSignIn = (username: string) => passwordSignsIn(app, REDIRECT, { username, password: PASSWORD });

  it('notes each completed sign-in, and shows it in user list and user show', async () => {
    await poort.addUser({ username: 'anna', password: PASSWORD });
    await poort.addUser({ username: 'bert', password: PASSWORD });
    const before = Date.now();
    await signIn(app, new Browser(), { username: 'anna', password: PASSWORD }, { redirectUri: REDIRECT });
    // a wrong password is no sign-in
    const wrong = await authorizeInBrowser(
      new Browser(),
      await startAuthorization(app, { redirectUri: REDIRECT }),
      { username: 'bert', password: 'not the password at all' },
    );
    expect(wrong.body).toContain('Incorrect username or password.');

    const listed = JSON.parse((await run(['user', 'list', '--json'])).stdout) as UserRecord[];
    const anna = listed.find((u) => u.username === 'anna')!;
    expect(Date.parse(anna.lastSignInAt!)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(Date.parse(anna.lastSignInAt!)).toBeLessThanOrEqual(Date.now());
    expect(listed.find((u) => u.username === 'bert')!.lastSignInAt).toBeNull();

    const table = (await run(['user', 'list'])).stdout;
    expect(table).toMatch(/^USERNAME\s+EMAIL\s+NAME\s+ENABLED\s+PASSWORD\s+GROUPS\s+LAST SIGN-IN$/m);
    expect(table).toMatch(new RegExp(`^anna\\s.*\\s${anna.lastSignInAt!.replace(/\./g, '\\.')}$`, 'm'));
    expect(table).toMatch(/^bert\s.*\snever$/m);
    expect((await run(['user', 'show', 'bert'])).stdout).toMatch(/^last sign-in:\s+never$/m);
  });

  it('lists and disables the enabled users without a sign-in for the period; a dry run changes nothing', async () => {
    await poort.addUser({ username: 'carl', password: PASSWORD }); // signed in 120 days ago
    await poort.addUser({ username: 'dirk', password: PASSWORD }); // added 200 days ago, never signed in
    await poort.addUser({ username: 'eva', password: PASSWORD }); // signed in 10 days ago
    await poort.addUser({ username: 'fay', password: PASSWORD }); // added 5 days ago, never signed in
    await poort.addUser({ username: 'gijs', password: PASSWORD }); // dormant, but already disabled
    await age('carl', { created: 400, lastSignIn: 120 });
    await age('dirk', { created: 200 });
    await age('eva', { created: 400, lastSignIn: 10 });
    await age('fay', { created: 5 });
    await age('gijs', { created: 400, lastSignIn: 300 });
    expect((await run(['user', 'disable', 'gijs'])).code).toBe(0);
    await age('anna', { created: 0 });
    await age('bert', { created: 0 });

    const inactive = JSON.parse(
      (await run(['user', 'list', '--inactive', '90d', '--json'])).stdout,
    ) as UserRecord[];
    // the longest without a sign-in first
    expect(inactive.map((u) => u.username)).toEqual(['dirk', 'carl']);
    expect((await run(['user', 'list', '--inactive', '365d'])).stdout).toContain(
      'No enabled user has been without a sign-in that long.',
    );

    const seq = (await poort.services.audit.query({ limit: 1 }))[0]!.seq;
    const dry = await run(['user', 'disable-inactive', '90d', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^dirk\s+\S+\s+never \(added \d{4}-\d\d-\d\d\)\s+200$/m);
    expect(dry.stdout).toMatch(/^carl\s+\S+\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+120$/m);
    expect(dry.stdout).toContain('Would disable 2 users; nothing was changed (--dry-run).');
    expect(await canSignIn('carl')).toBe(true);
    await age('carl', { lastSignIn: 120 }); // that sign-in, undone

    const done = await run(['user', 'disable-inactive', '90d']);
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('Disabled 2 users; "poort user enable <username>" lets one sign in again.');
    expect(await canSignIn('carl')).toBe(false);
    expect(await canSignIn('dirk')).toBe(false);
    expect(await canSignIn('eva')).toBe(true);
    expect(await canSignIn('fay')).toBe(true);

    const events = (await poort.services.audit.readAfter(seq, 100))
      .map((e) => e.event)
      .filter((e): e is AuditEvent => e.action === 'user.disabled');
    expect(events.map((e) => [e.subject?.username, e.details])).toEqual([
      ['dirk', { reason: 'inactive', inactive_days: 200, last_signin_at: null }],
      ['carl', { reason: 'inactive', inactive_days: 120, last_signin_at: expect.stringMatching(/Z$/) }],
    ]);
    expect(events[0]!.actor).toMatchObject({ type: 'cli' });
    expect(await poort.services.audit.verify()).toMatchObject({ ok: true });

    // nothing left to do: said so, and nothing recorded
    const again = await run(['user', 'disable-inactive', '90d']);
    expect(again.stdout).toBe('No enabled user has been without a sign-in that long.\n');
    const disabled = (await poort.services.audit.readAfter(seq, 500)).filter(
      (e) => e.event.action === 'user.disabled',
    );
    expect(disabled).toHaveLength(2);
  });

  it('refuses a period shorter than a day or not a period, with usage', async () => {
    for (const bad of ['12h', '0d', 'ninety', '36501d']) {
      const result = await run(['user', 'disable-inactive', bad]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('expected a period such as 90d (at least 1d, at most 36500d)');
    }
    expect((await run(['user', 'list', '--inactive', '1h'])).code).toBe(2);
  });
});
