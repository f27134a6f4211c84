import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { Browser } from '../helpers/browser.js';
import { runCliOn } from '../helpers/cli.js';
import {
  authorizeInBrowser,
  expectSignedOut,
  FAST_ARGON2,
  relyingParty,
  signIn,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const REDIRECT = 'http://127.0.0.1:7921/cb';
const SECRET = 'app-secret-0123456789';
const PASSWORD = 'a passphrase nobody guesses';
const FINGERPRINT = 'ab'.repeat(32);

// A leaver: the helpdesk removes the account with the CLI while the server runs and the user is signed in.
describe('poort user remove', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let app: oidc.Configuration;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    app = await relyingParty(poort, 'app', SECRET);
  });
  afterAll(async () => poort?.stop());

  const run = (args: string[]) => runCliOn(poort, args);
  /** rows of `table` that belong to user `id` */
  const rowsOf = async (table: 'memberships' | 'factors' | 'recovery_codes', id: string) =>
    (await poort.services.db.selectFrom(table).select('user_id').where('user_id', '=', id).execute()).length;
  const devicesOf = async (id: string) =>
    (await poort.services.db.selectFrom('devices').select('name').where('owner_id', '=', id).execute())
      .length;

  it('removes the user with their factors, memberships, devices and reset link; sessions and tokens stop working', async () => {
    const id = await poort.addUser({ username: 'rita', password: PASSWORD, groups: ['staff', 'finance'] });
    await poort.addUser({ username: 'sem', password: PASSWORD, groups: ['staff'] });
    // signed in before she leaves (the password alone: she has no second factor yet)
    const browser = new Browser();
    const { tokens } = await signIn(
      app,
      browser,
      { username: 'rita', password: PASSWORD },
      { redirectUri: REDIRECT },
    );
    expect(await oidc.tokenIntrospection(app, tokens.access_token)).toMatchObject({ active: true, sub: id });
    // since then: a second factor, recovery codes, a managed device and a reset link of hers
    await poort.services.factors.add({ userId: id, kind: 'totp', name: 'Phone', secret: newTotpSecret() });
    expect((await run(['mfa', 'recovery-codes', 'rita'])).code).toBe(0);
    expect(
      (await run(['device', 'add', 'rita-laptop', '--cert-fingerprint', FINGERPRINT, '--owner', 'rita']))
        .code,
    ).toBe(0);
    const link = /https?:\/\/\S+/.exec(
      (await run(['user', 'reset-password', 'rita', '--print-link'])).stdout,
    )![0];
    const since = (await poort.services.audit.query({ limit: 1 }))[0]?.seq ?? 0;

    const result = await run(['user', 'remove', 'rita']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        `Removed user rita (id ${id})`,
        '  groups left: finance, staff',
        '  second factors removed: totp',
        '  managed devices removed: rita-laptop',
        'Their sessions and tokens no longer work; the audit trail keeps their history.',
        '',
      ].join('\n'),
    );

    // gone from the directory, with what was hers alone; the groups and the other members stay
    expect((await run(['user', 'show', 'rita'])).code).toBe(1);
    expect(await rowsOf('memberships', id)).toBe(0);
    expect(await rowsOf('factors', id)).toBe(0);
    expect(await rowsOf('recovery_codes', id)).toBe(0);
    expect(await devicesOf(id)).toBe(0);
    expect((await run(['group', 'list', '--json'])).stdout).toContain('staff');
    expect((await run(['user', 'show', 'sem'])).stdout).toMatch(/^groups:\s+staff$/m);

    // the running server: her session, tokens and reset link no longer work, and the password is refused
    await expectSignedOut(app, REDIRECT, browser, tokens, id);
    const reset = await new Browser().navigate(link);
    expect(reset.status).toBe(400);
    expect(await poort.services.kv.get(`password-reset:user:${id}`)).toBeUndefined(); // withdrawn, not left to expire
    const again = await authorizeInBrowser(
      new Browser(),
      await startAuthorization(app, { redirectUri: REDIRECT }),
      {
        username: 'rita',
        password: PASSWORD,
      },
    );
    expect(again.status).toBe(401);

    const events = (await poort.services.audit.readAfter(since, 100)).map((e) => e.event as AuditEvent);
    expect(events.find((e) => e.action === 'user.removed')).toMatchObject({
      outcome: 'success',
      actor: { type: 'cli' },
      subject: { id, username: 'rita' },
      details: { groups: ['finance', 'staff'], factors: ['totp'], devices: ['rita-laptop'] },
    });
    expect((await run(['audit', 'verify'])).code).toBe(0);
  });

  it('gives a new account of the same name a new subject: nothing of the old one carries over', async () => {
    const oldId = await poort.addUser({ username: 'tess', password: PASSWORD });
    expect((await run(['user', 'remove', 'tess'])).code).toBe(0);
    const newId = await poort.addUser({ username: 'tess', password: PASSWORD });
    expect(newId).not.toBe(oldId);
    const { tokens } = await signIn(
      app,
      new Browser(),
      { username: 'tess', password: PASSWORD },
      { redirectUri: REDIRECT },
    );
    expect(tokens.claims()!.sub).toBe(newId);
  });

  it('refuses an unknown user and bad use, and changes nothing', async () => {
    const unknown = await run(['user', 'remove', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('poort: no user nobody\n');
    const missing = await run(['user', 'remove']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("missing required argument 'username'");
    expect(missing.stderr).toContain('Usage:');
  });
});
