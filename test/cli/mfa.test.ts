import { generate } from 'otplib';
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredAuditEvent } from '../../src/audit/event.js';
import { EnrolmentCodes } from '../../src/mfa/enrolment-codes.js';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import { runCliOn, type CliResult } from '../helpers/cli.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  redeemCode,
  relyingParty,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const REDIRECT = 'http://127.0.0.1:7903/cb';
const PASSWORD = 'a passphrase nobody guesses';
/** A hardware token's seed as the vendor prints it: 20 bytes, grouped, lower case. */
const TOKEN_SEED = 'gezd gnbv gy3t qojq gezd gnbv gy3t qojq';

interface FactorJson {
  id: string;
  kind: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

// The CLI works on the store of a running server, as an operator would: changes reach it without a restart.
describe('poort mfa', { timeout: 60_000 }, () => {
  let poort: TestPoort;
  let config: oidc.Configuration;
  const ids: Record<string, string> = {};

  const run = (args: string[], input?: string): Promise<CliResult> =>
    runCliOn(poort, args, input !== undefined ? { input } : {});

  const listFactors = async (username: string) => {
    const result = await run(['mfa', 'list', username, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as {
      username: string;
      factors: FactorJson[];
      unusedRecoveryCodes: number;
    };
  };

  /** A sign-in as far as it goes with the password: the callback (status 0) or the code page. */
  async function signInWithPassword(username: string) {
    const browser = new Browser();
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    const page = await authorizeInBrowser(browser, pending, { username, password: PASSWORD });
    return { browser, pending, page };
  }

  async function submitCode(browser: Browser, page: Page, code: string): Promise<Page> {
    const form = readForm(page);
    return browser.navigate(form.action, { form: { ...form.fields, code } }, REDIRECT);
  }

  /** Signs in with the password and a code from the given seed; returns the id_token's amr. */
  async function signInWithSeed(username: string, secret: string): Promise<string[]> {
    const { browser, pending, page } = await signInWithPassword(username);
    expect(page.body).toContain('autocomplete="one-time-code"');
    const done = await submitCode(browser, page, await generate({ secret }));
    expect(done.status).toBe(0);
    return (await redeemCode(config, done, pending)).claims()!.amr as string[];
  }

  const eventsOf = async (action: string): Promise<StoredAuditEvent[]> =>
    (await poort.services.audit.readAfter(0, 10_000)).filter((e) => e.event.action === action);

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    for (const name of ['alice', 'bob', 'carol', 'dave', 'erin'])
      ids[name] = await poort.addUser({ username: name, password: PASSWORD });
    await poort.addClient({ clientId: 'app', secret: 'app-secret-0123456789', redirectUris: [REDIRECT] });
    config = await relyingParty(poort, 'app', 'app-secret-0123456789');
  });
  afterAll(async () => poort?.stop());

  it.concurrent.for([
    ['no username', ['mfa', 'list'], "missing required argument 'username'"],
    ['an unknown subcommand', ['mfa', 'frobnicate'], "unknown command 'frobnicate'"],
    ['a bad --ttl', ['mfa', 'enrolment-code', 'alice', '--ttl', 'tomorrow'], 'expected a lifetime'],
    ['a --ttl beyond 30 days', ['mfa', 'enrolment-code', 'alice', '--ttl', '31d'], 'at most 30d'],
    ['import without --secret-stdin', ['mfa', 'totp', 'import', 'alice'], '--secret-stdin'],
    ['reset with an extra argument', ['mfa', 'reset', 'alice', 'bob'], 'too many arguments'],
  ] as const)('exits 2 with usage for %s', async ([, args, message], { expect }) => {
    const result = await run([...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('Usage: poort mfa');
    expect(result.stdout).toBe('');
  });

  it('exits 1 for a user that does not exist', async () => {
    const result = await run(['mfa', 'list', 'nobody']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^poort: .*nobody/);
  });

  it('enrolls a TOTP factor and prints an otpauth URI whose secret signs in for real', async () => {
    const result = await run(['mfa', 'totp', 'enroll', 'alice', '--name', 'Work phone']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const uri = new URL(/otpauth:\/\/\S+/.exec(result.stdout)![0]);
    expect(uri.protocol).toBe('otpauth:');
    expect(decodeURIComponent(uri.pathname)).toContain('alice');
    const secret = uri.searchParams.get('secret')!;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(await signInWithSeed('alice', secret)).toEqual(['pwd', 'otp', 'mfa']);

    const [factor] = (await listFactors('alice')).factors;
    expect(factor).toMatchObject({ kind: 'totp', name: 'Work phone' });
    expect(factor!.lastUsedAt).not.toBeNull();
    const [event] = await eventsOf('mfa.enrolled');
    expect(event!.event).toMatchObject({
      outcome: 'success',
      actor: { type: 'cli' },
      subject: { id: ids.alice, username: 'alice' },
      details: { factor: 'totp', factor_id: factor!.id, method: 'cli_enroll' },
    });
    expect(JSON.stringify(event)).not.toContain(secret);
  });

  it('binds a hardware token from its base32 seed on stdin; refuses a seed shorter than 16 bytes', async () => {
    const short = await run(['mfa', 'totp', 'import', 'bob', '--secret-stdin'], 'JBSWY3DPEHPK3PXP\n');
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('at least 16 bytes');
    const garbage = await run(['mfa', 'totp', 'import', 'bob', '--secret-stdin'], 'not base32 at all!\n');
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toContain('not base32');
    expect((await listFactors('bob')).factors).toEqual([]);

    const result = await run(
      ['mfa', 'totp', 'import', 'bob', '--secret-stdin', '--name', 'Token 42'],
      `${TOKEN_SEED}\n`,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(/gezd/i);
    const secret = TOKEN_SEED.replace(/\s/g, '').toUpperCase();
    expect(await signInWithSeed('bob', secret)).toEqual(['pwd', 'otp', 'mfa']);
    const events = await eventsOf('mfa.enrolled');
    expect(events.some((e) => e.event.details?.method === 'cli_import')).toBe(true);
    expect(JSON.stringify(events).toUpperCase()).not.toContain(secret.slice(0, 16));
  });

  it('lists factors and unused recovery codes as a table and as JSON, never a secret', async () => {
    await run(['mfa', 'totp', 'enroll', 'carol', '--name', 'Phone']);
    await run(['mfa', 'totp', 'import', 'carol', '--secret-stdin'], `${TOKEN_SEED}\n`);
    const json = await listFactors('carol');
    expect(json.username).toBe('carol');
    expect(json.unusedRecoveryCodes).toBe(0);
    expect(json.factors.map((f) => [f.kind, f.name])).toEqual([
      ['totp', 'Phone'],
      ['totp', 'Hardware token'],
    ]);
    for (const f of json.factors)
      expect(Object.keys(f).sort()).toEqual(['createdAt', 'id', 'kind', 'lastUsedAt', 'name', 'userId']);
    const table = await run(['mfa', 'list', 'carol']);
    expect(table.stdout).toMatch(/^ID\s+KIND\s+NAME\s+CREATED\s+LAST USED$/m);
    expect(table.stdout).toContain(json.factors[0]!.id);
    expect(table.stdout).toContain('never');
    expect(table.stdout).toContain('Unused recovery codes: 0');
    expect((await run(['mfa', 'list', 'dave'])).stdout).toContain('dave has no second factors.');
  });

  it('prints ten recovery codes once; making new ones replaces the old; the list counts them', async () => {
    const first = await run(['mfa', 'recovery-codes', 'carol']);
    expect(first.code).toBe(0);
    const codes = first.stdout.match(/\b[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{5}\b/g)!;
    expect(codes).toHaveLength(10);
    expect((await listFactors('carol')).unusedRecoveryCodes).toBe(10);
    const second = await run(['mfa', 'recovery-codes', 'carol']);
    const fresh = second.stdout.match(/\b[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{5}\b/g)!;
    expect(fresh).toHaveLength(10);
    expect(fresh.some((c) => codes.includes(c))).toBe(false);

    const events = await eventsOf('mfa.recovery_codes.generated');
    expect(events.map((e) => e.event.details)).toEqual([
      { count: 10, replaced: 0 },
      { count: 10, replaced: 10 },
    ]);
    expect(events[0]!.event).toMatchObject({ actor: { type: 'cli' }, subject: { username: 'carol' } });
    const trail = JSON.stringify(await poort.services.audit.readAfter(0, 10_000));
    for (const code of [...codes, ...fresh]) expect(trail).not.toContain(code.slice(6));
  });

  it('removes one factor, then all with the recovery codes; the password alone signs in again', async () => {
    const before = await listFactors('carol');
    const [phone, token] = before.factors;
    const unknown = await run(['mfa', 'reset', 'carol', '--factor', 'no-such-factor']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no factor no-such-factor');
    const one = await run(['mfa', 'reset', 'carol', '--factor', phone!.id]);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain(`Removed totp factor "Phone" (id ${phone!.id})`);
    const middle = await listFactors('carol');
    expect(middle.factors.map((f) => f.id)).toEqual([token!.id]);
    expect(middle.unusedRecoveryCodes).toBe(10);
    expect((await signInWithPassword('carol')).page.status).toBe(200); // still asks for a code

    const all = await run(['mfa', 'reset', 'carol']);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain('Removed 10 unused recovery codes');
    expect(await listFactors('carol')).toMatchObject({ factors: [], unusedRecoveryCodes: 0 });
    const { page, pending } = await signInWithPassword('carol');
    expect(page.status).toBe(0);
    expect((await redeemCode(config, page, pending)).claims()!.amr).toEqual(['pwd']);
    expect((await run(['mfa', 'reset', 'carol'])).stdout).toContain('carol had no second factors');

    const removed = (await eventsOf('mfa.removed')).map((e) => e.event);
    expect(removed.map((e) => e.details)).toEqual([
      { factor: 'totp', factor_id: phone!.id, name: 'Phone' },
      { factor: 'totp', factor_id: token!.id, name: 'Hardware token' },
      { factor: 'recovery_code', count: 10 },
    ]);
    for (const e of removed)
      expect(e).toMatchObject({ actor: { type: 'cli' }, subject: { username: 'carol' } });
  });

  it('prints a time-limited enrolment code that redeems once, for its user only; a new one replaces it', async () => {
    const enrolment = new EnrolmentCodes(poort.services.db, poort.services.hasher);
    const issue = async (args: string[] = []) => {
      const result = await run(['mfa', 'enrolment-code', 'dave', ...args]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      return /\b\d{4}(?:-\d{4}){4}\b/.exec(result.stdout)![0];
    };
    const first = await issue(['--ttl', '1h']);
    const second = await issue();
    expect(await enrolment.redeem(ids.dave!, first)).toBe(false);
    expect(await enrolment.redeem(ids.erin!, second)).toBe(false);
    expect(await enrolment.redeem(ids.dave!, second.replace(/-/g, ' '))).toBe(true);
    expect(await enrolment.redeem(ids.dave!, second)).toBe(false);

    const events = (await eventsOf('mfa.enrolment_code.issued')).map((e) => e.event);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      actor: { type: 'cli' },
      subject: { id: ids.dave, username: 'dave' },
      details: { ttl_seconds: 3600, withdrawn: 0 },
    });
    expect(events[1]!.details).toMatchObject({ ttl_seconds: 86400, withdrawn: 1 });
    const expires = Date.parse(String(events[1]!.details!.expires_at));
    expect(Math.abs(expires - Date.now() - 86_400_000)).toBeLessThan(60_000);
    const trail = JSON.stringify(await poort.services.audit.readAfter(0, 10_000));
    for (const code of [first, second]) {
      expect(trail).not.toContain(code);
      expect(trail).not.toContain(code.replace(/-/g, ''));
    }
  });

  it('refuses an expired enrolment code', async () => {
    const enrolment = new EnrolmentCodes(poort.services.db, poort.services.hasher);
    const { code } = await enrolment.issue(ids.erin!, 1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await enrolment.redeem(ids.erin!, code)).toBe(false);
  });
});
