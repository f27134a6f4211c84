import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { Browser } from '../helpers/browser.js';
import { changeSeenBy, runCliOn } from '../helpers/cli.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  isConsentPage,
  protocolError,
  relyingParty,
  signIn,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const OLD_URI = 'http://127.0.0.1:7931/old/cb';
const NEW_URI = 'http://127.0.0.1:7931/new/cb';
const OLD_SECRET = 'portal-secret-0123456789';
const NEW_SECRET = 'portal-secret-rotated-9876543210';
const PASSWORD = 'a passphrase nobody guesses';

// The CLI changes a client on the store of a running server; the next request sees the change.
describe('poort client update', { timeout: 90_000 }, () => {
  let poort: TestPoort;

  beforeAll(async () => {
    poort = await startPoort(
      `${FAST_ARGON2}oidc:\n  clients:\n    - { client_id: declared, client_secret: declared-secret-0123456789, redirect_uris: ["${OLD_URI}"] }\n`,
    );
    await poort.addUser({ username: 'ilse', password: PASSWORD });
  });
  afterAll(async () => poort?.stop());

  /** the CLI, then what it changed as the server serves it */
  const run = async (args: string[], input?: string) => {
    const result = await runCliOn(poort, args, input ? { input } : {});
    await changeSeenBy(poort);
    return result;
  };
  const since = async () => (await poort.services.audit.query({ limit: 1 }))[0]?.seq ?? 0;
  const eventsAfter = async (seq: number) =>
    (await poort.services.audit.readAfter(seq, 100)).map((e) => e.event as AuditEvent);

  it('moves a redirect URI, renames and replaces the secret: the old ones stop working at once, tokens stay', async () => {
    const added = await run(
      ['client', 'add', 'portal', '--secret-stdin', '--redirect-uri', OLD_URI, '--first-party'],
      `${OLD_SECRET}\n`,
    );
    expect(added.code).toBe(0);
    const before = await relyingParty(poort, 'portal', OLD_SECRET);
    const { tokens } = await signIn(
      before,
      new Browser(),
      { username: 'ilse', password: PASSWORD },
      { redirectUri: OLD_URI },
    );
    const seq = await since();

    const result = await run(
      [
        'client',
        'update',
        'portal',
        '--add-redirect-uri',
        NEW_URI,
        '--remove-redirect-uri',
        OLD_URI,
        '--name',
        'Staff portal',
        '--secret-stdin',
      ],
      `${NEW_SECRET}\n`,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Updated client portal: redirect_uris, client_name, secret\n');
    expect(result.stdout).toMatch(/^redirect URIs:\s+http:\/\/127\.0\.0\.1:7931\/new\/cb$/m);
    expect(result.stdout).toMatch(/^name:\s+Staff portal$/m);
    expect(result.stdout).toContain('The old secret no longer works');
    expect(result.stdout).not.toContain(NEW_SECRET);

    // the old secret is refused, the new one accepted, and the token issued before still works
    expect(await protocolError(oidc.tokenIntrospection(before, tokens.access_token))).toMatchObject({
      error: 'invalid_client',
    });
    const after = await relyingParty(poort, 'portal', NEW_SECRET);
    expect(await oidc.tokenIntrospection(after, tokens.access_token)).toMatchObject({ active: true });
    // the removed redirect URI is never redirected to; the added one is
    const old = await new Browser().navigate(
      (await startAuthorization(after, { redirectUri: OLD_URI })).url.href,
      {},
      OLD_URI,
    );
    expect(old.status).toBe(400);
    expect(old.url).not.toContain(OLD_URI);
    await signIn(after, new Browser(), { username: 'ilse', password: PASSWORD }, { redirectUri: NEW_URI });

    const events = (await eventsAfter(seq)).filter((e) => e.action === 'client.updated');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      outcome: 'success',
      actor: { type: 'cli' },
      application: { id: 'portal', protocol: 'oidc' },
      details: {
        redirect_uris: { added: [NEW_URI], removed: [OLD_URI] },
        client_name: 'Staff portal',
        secret: 'replaced',
      },
    });
    expect(JSON.stringify(events[0])).not.toContain(NEW_SECRET.slice(0, 12));
  });

  it('asks for consent again once a client is no longer first-party', async () => {
    // (a web application: native ones are asked about on every sign-in anyway, RFC 8252 §8.6)
    const added = await run(
      ['client', 'add', 'intranet', '--secret-stdin', '--redirect-uri', NEW_URI, '--first-party'],
      `${OLD_SECRET}\n`,
    );
    expect(added.code).toBe(0);
    const rp = await relyingParty(poort, 'intranet', OLD_SECRET);
    const signInPage = async () =>
      authorizeInBrowser(new Browser(), await startAuthorization(rp, { redirectUri: NEW_URI }), {
        username: 'ilse',
        password: PASSWORD,
      });
    expect((await signInPage()).status).toBe(0);
    const result = await run(['client', 'update', 'intranet', '--no-first-party']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^first party:\s+no$/m);
    expect(isConsentPage(await signInPage())).toBe(true);
  });

  it('keeps the old secret working beside the new one for a while when asked, then only the new one', async () => {
    const secrets = [
      'api-secret-first-0123456789',
      'api-secret-second-0123456789',
      'api-secret-third-0123456789',
    ];
    const added = await run(
      ['client', 'add', 'api', '--secret-stdin', '--grant-types', 'client_credentials'],
      `${secrets[0]}\n`,
    );
    expect(added.code).toBe(0);
    /** Whether the token endpoint takes `secret` for api: a token, or invalid_client. */
    const works = async (secret: string) => {
      const config = await relyingParty(poort, 'api', secret);
      const answer = await oidc.clientCredentialsGrant(config).then(
        () => 'token',
        async (err: unknown) => (await protocolError(Promise.reject(err))).error,
      );
      return answer === 'token' ? true : answer === 'invalid_client' ? false : answer;
    };
    expect(await works(secrets[0]!)).toBe(true);

    const seq = await since();
    const rotated = await run(
      ['client', 'update', 'api', '--secret-stdin', '--keep-old-secret', '8s'],
      `${secrets[1]}\n`,
    );
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(/The old secret works beside the new one until \S+Z;/);
    expect(rotated.stdout).toMatch(/^previous secret:\s+works until \S+Z$/m);
    const until = Date.parse(/works beside the new one until (\S+Z);/.exec(rotated.stdout)![1]!);
    expect(until - Date.now()).toBeGreaterThan(4000);
    expect([
      await works(secrets[0]!),
      await works(secrets[1]!),
      await works('api-secret-wrong-0123456789'),
    ]).toEqual([true, true, false]);
    const [event] = (await eventsAfter(seq)).filter((e) => e.action === 'client.updated');
    expect(event?.details).toMatchObject({ secret: 'replaced', previous_secret_until: expect.any(String) });
    expect(JSON.stringify(event)).not.toContain(secrets[0]);
    const stored = await poort.services.db
      .selectFrom('clients')
      .select('metadata')
      .where('client_id', '=', 'api')
      .executeTakeFirstOrThrow();
    expect(stored.metadata).not.toContain(secrets[0]);
    expect(stored.metadata).not.toContain(secrets[1]);
    // a change of something else keeps the old secret working too
    expect((await run(['client', 'update', 'api', '--name', 'API'])).code).toBe(0);
    expect(await works(secrets[0]!)).toBe(true);

    // once the time is up, only the new one
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, until - Date.now()) + 500));
    expect([await works(secrets[0]!), await works(secrets[1]!)]).toEqual([false, true]);
    expect((await run(['client', 'show', 'api'])).stdout).not.toContain('previous secret');

    // a rotation without --keep-old-secret ends the old one at once, a kept one too
    expect(
      (await run(['client', 'update', 'api', '--secret-stdin', '--keep-old-secret', '1h'], `${secrets[2]}\n`))
        .code,
    ).toBe(0);
    expect(await works(secrets[1]!)).toBe(true);
    expect((await run(['client', 'update', 'api', '--secret-stdin'], `${secrets[0]}\n`)).code).toBe(0);
    expect([await works(secrets[0]!), await works(secrets[1]!), await works(secrets[2]!)]).toEqual([
      true,
      false,
      false,
    ]);

    const [alone, tooLong] = await Promise.all([
      run(['client', 'update', 'api', '--keep-old-secret', '1h']),
      run(['client', 'update', 'api', '--secret-stdin', '--keep-old-secret', '31d'], `${secrets[1]}\n`),
    ]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--keep-old-secret goes with --secret-stdin');
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('a period such as 1h, 24h or 7d (at most 30d)');
  });

  it('refuses what it cannot do, changes nothing, and records nothing when nothing changes', async () => {
    expect((await run(['client', 'add', 'shop', '--public', '--redirect-uri', NEW_URI])).code).toBe(0);
    const seq = await since();
    const [unknown, declared, notThere, httpPublic, secretOnPublic, nothing, noop] = await Promise.all([
      run(['client', 'update', 'nobody', '--name', 'X']),
      run(['client', 'update', 'declared', '--name', 'X']),
      run(['client', 'update', 'shop', '--remove-redirect-uri', OLD_URI]),
      run(['client', 'update', 'shop', '--add-redirect-uri', 'http://shop.example.org/cb']),
      run(['client', 'update', 'shop', '--secret-stdin'], `${NEW_SECRET}\n`),
      run(['client', 'update', 'shop']),
      run(['client', 'update', 'shop', '--add-redirect-uri', NEW_URI]),
    ]);
    expect([unknown.code, unknown.stderr]).toEqual([1, 'poort: no client nobody\n']);
    expect([declared.code, declared.stderr]).toEqual([
      1,
      'poort: client declared is declared in the configuration; change it there\n',
    ]);
    expect([notThere.code, notThere.stderr]).toEqual([
      1,
      `poort: ${OLD_URI} is not a registered redirect URI\n`,
    ]);
    expect(httpPublic.code).toBe(1);
    expect(httpPublic.stderr).toContain('a public client may use http only on a loopback address');
    expect(secretOnPublic.code).toBe(1);
    expect(secretOnPublic.stderr).toContain('shop is a public client and has no secret');
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('nothing to change');
    expect(nothing.stderr).toContain('Usage: poort client update');
    expect([noop.code, noop.stdout]).toEqual([0, 'Client shop is already so; nothing changed\n']);
    expect((await run(['client', 'show', 'shop', '--json'])).stdout).toContain(
      `"redirectUris": [\n    "${NEW_URI}"\n  ]`,
    );
    expect((await eventsAfter(seq)).filter((e) => e.action === 'client.updated')).toEqual([]);
  });
});
