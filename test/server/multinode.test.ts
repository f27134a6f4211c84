import fs from 'node:fs';
import path from 'node:path';
import { decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startBalancer, startNodeProcess, type Balancer, type NodeProcess } from '../helpers/cluster.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  isPasswordForm,
  signIn,
  startAuthorization,
  verifiedLogoutToken,
} from '../helpers/oidc.js';
import { freePort, tempDir } from '../helpers/poort.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { deleteKeysUnder, redisUrl, requireRedis, testPrefix } from '../helpers/redis.js';

const PASSWORD = 'correct horse battery staple';
const SECRET = 'app-secret-0123456789';
const REDIRECT = 'http://127.0.0.1:7777/cb';
const LOGGED_OUT = 'http://127.0.0.1:7777/logged-out';
/** the account throttle of this test: five free failures in all, then a wait */
const FREE_ATTEMPTS = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Two Poort processes behind a load balancer, sharing nothing but what an operator shares between nodes: one
 * PostgreSQL database, one Redis (under this run's own prefix), one configuration file and one keys folder.
 */
// Every step runs `poort` or a sign-in through two processes: give each test room on a busy machine.
describe('two Poort nodes on one Redis, one PostgreSQL and one keys folder', { timeout: 90_000 }, () => {
  let dir: string;
  let keysDir: string;
  let database: TestDatabase | undefined;
  let prefix: string;
  let env: Record<string, string>;
  let balancer: Balancer | undefined;
  let nodes: NodeProcess[] = [];
  let app: oidc.Configuration;
  /** the SIEM both nodes are configured to ship the audit trail to */
  let siem: Receiver | undefined;

  const cli = (args: string[], input?: string): Promise<CliResult> =>
    runCli(args, { cwd: dir, env: { ...env, POORT_DATA_DIR: path.join(dir, 'data-cli') }, input });
  const cliOk = async (args: string[], input?: string): Promise<string> => {
    const result = await cli(args, input);
    if (result.code !== 0)
      throw new Error(`poort ${args.join(' ')} exited ${result.code}:\n${result.stderr}${result.stdout}`);
    return result.stdout;
  };
  const addUser = (username: string) =>
    cliOk(
      ['user', 'add', username, '--email', `${username}@example.org`, '--password-stdin'],
      `${PASSWORD}\n`,
    );

  /** The application, configured from the discovery document the balancer serves (a fresh JWKS cache each time). */
  const relyingParty = () =>
    oidc.discovery(new URL(balancer!.url), 'app', SECRET, undefined, {
      execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks],
    });

  /** Runs `fn` with every request going to one node, and checks that they all did. */
  async function on<T>(node: string, fn: () => Promise<T>): Promise<T> {
    const from = balancer!.routed.length;
    balancer!.pin(node);
    try {
      return await fn();
    } finally {
      balancer!.pin(undefined);
      const served = balancer!.routed.slice(from);
      expect(served.length).toBeGreaterThan(0);
      expect(new Set(served.map((r) => r.node))).toEqual(new Set([node]));
    }
  }

  /** The kids a node publishes, asked of the node itself rather than through the balancer. */
  const jwksOf = async (node: NodeProcess): Promise<string[]> => {
    const res = await fetch(`http://127.0.0.1:${node.port}/jwks`);
    return ((await res.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
  };

  /** Polls both nodes' JWKS until `check` holds for each (the server polls its keys folder every 2 s). */
  async function untilBothPublish(check: (kids: string[]) => boolean, timeoutMs = 8000): Promise<string[][]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const sets = await Promise.all(nodes.map(jwksOf));
      if (sets.every(check)) return sets;
      if (Date.now() > deadline)
        throw new Error(`the nodes' JWKS did not change in ${timeoutMs} ms: ${JSON.stringify(sets)}`);
      await sleep(100);
    }
  }

  beforeAll(async () => {
    await requireRedis();
    database = await createTestDatabase();
    prefix = testPrefix();
    dir = tempDir('poort-multinode-');
    keysDir = path.join(dir, 'keys');
    siem = await startReceiver();
    const config = path.join(dir, 'poort.yaml');
    fs.writeFileSync(
      config,
      FAST_ARGON2 +
        `log: { level: warn }\n` +
        `storage: { durable: postgres, ephemeral: redis, redis_prefix: '${prefix}' }\n` +
        `keys: { activation_delay: 5s }\n` +
        'throttle:\n' +
        `  account: { free_attempts: ${FREE_ATTEMPTS}, base_delay: 30s, max_delay: 1m, window: 5m }\n` +
        '  ip: { free_attempts: 1000, base_delay: 1s, max_delay: 1s, window: 1m }\n' +
        `audit: { sinks: [{ type: webhook, name: siem, url: '${siem.url('/siem')}' }] }\n`,
    );
    const ports = [await freePort(), await freePort()];
    balancer = await startBalancer([
      { name: 'A', port: ports[0]! },
      { name: 'B', port: ports[1]! },
    ]);
    env = {
      POORT_CONFIG: config,
      POORT_ISSUER: balancer.url,
      POORT_DATABASE_URL: database.url,
      POORT_REDIS_URL: redisUrl,
      POORT_KEYS_DIR: keysDir,
    };
    // Both at once on an empty keys folder and an empty database, as two containers started together do.
    const started = await Promise.allSettled(
      ['A', 'B'].map((name, i) =>
        startNodeProcess(name, ports[i]!, { ...env, POORT_DATA_DIR: path.join(dir, `data-${name}`) }, dir),
      ),
    );
    nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason as Error;

    // The application and a user are added with the CLI while the nodes run: nothing is known to them at start-up.
    await cliOk(
      [
        'client',
        'add',
        'app',
        '--secret-stdin',
        '--redirect-uri',
        REDIRECT,
        '--post-logout-redirect-uri',
        LOGGED_OUT,
        '--first-party',
      ],
      `${SECRET}\n`,
    );
    await addUser('anna');
    app = await relyingParty();
  }, 90_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await balancer?.close();
    await siem?.close();
    await database?.drop();
    if (prefix) await deleteKeysUnder(prefix);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts both nodes at once on an empty keys folder with one set of secrets and one key set', async () => {
    const secretFiles = fs.readdirSync(keysDir).filter((n) => n.startsWith('secrets'));
    expect(secretFiles).toEqual(['secrets.json']);
    // Each node publishes what the folder holds: the same keys, in the same order (the same key signs).
    const [a, b] = await untilBothPublish(() => true);
    // One key per algorithm: the node that came second found the first one's keys instead of making its own.
    const inFolder = fs.readdirSync(keysDir).filter((n) => n.startsWith('signing-'));
    expect(inFolder).toHaveLength(2);
    expect(a).toHaveLength(2);
    expect(a).toEqual(b);
  });

  it('signs in on node A; node B refreshes, introspects and answers userinfo for the same grant', async () => {
    const { tokens } = await on('A', () =>
      signIn(app, new Browser(), { username: 'anna', password: PASSWORD }, { redirectUri: REDIRECT }),
    );
    const sub = tokens.claims()!.sub;

    await on('B', async () => {
      const refreshed = await oidc.refreshTokenGrant(app, tokens.refresh_token!);
      expect(refreshed.claims()).toMatchObject({ sub, iss: balancer!.url, aud: 'app' });
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);

      expect(await oidc.tokenIntrospection(app, refreshed.access_token)).toMatchObject({
        active: true,
        sub,
        client_id: 'app',
      });
      // The rotated refresh token was consumed on B: both nodes see it spent.
      expect(await oidc.tokenIntrospection(app, tokens.refresh_token!)).toMatchObject({ active: false });
      expect(await oidc.fetchUserInfo(app, refreshed.access_token, sub)).toMatchObject({ sub });
    });
    await on('A', async () => {
      expect(await oidc.tokenIntrospection(app, tokens.refresh_token!)).toMatchObject({ active: false });
    });
  });

  it('logs out on node B, and node A no longer knows the session', async () => {
    const browser = new Browser();
    const { tokens } = await on('A', () =>
      signIn(app, browser, { username: 'anna', password: PASSWORD }, { redirectUri: REDIRECT }),
    );
    // The single sign-on session lives in Redis: B knows it without the password.
    const silent = await on('B', () =>
      startAuthorization(app, { redirectUri: REDIRECT }).then((p) => authorizeInBrowser(browser, p)),
    );
    expect(silent.status).toBe(0);

    await on('B', async () => {
      const endSession = oidc.buildEndSessionUrl(app, {
        id_token_hint: tokens.id_token!,
        post_logout_redirect_uri: LOGGED_OUT,
        state: 'bye',
      });
      const confirmation = await browser.navigate(endSession.href);
      expect(confirmation.body).toContain('id="op.logoutForm"');
      const form = readForm(confirmation, 'op.logoutForm');
      const back = await browser.navigate(
        form.action,
        { form: { ...form.fields, logout: 'yes' } },
        LOGGED_OUT,
      );
      expect(back.status).toBe(0);
      expect(new URL(back.url).searchParams.get('state')).toBe('bye');
    });

    const again = await on('A', () =>
      startAuthorization(app, { redirectUri: REDIRECT }).then((p) => authorizeInBrowser(browser, p)),
    );
    expect(isPasswordForm(again)).toBe(true);
  });

  it('tells the applications once, from one node, when the CLI signs someone out everywhere', async () => {
    const receiver = await startReceiver();
    try {
      await cliOk(
        [
          'client',
          'add',
          'notes',
          '--secret-stdin',
          '--redirect-uri',
          REDIRECT,
          '--backchannel-logout-uri',
          receiver.url('/bcl'),
          '--first-party',
        ],
        `${SECRET}\n`,
      );
      const notes = await oidc.discovery(new URL(balancer!.url), 'notes', SECRET, undefined, {
        execute: [oidc.allowInsecureRequests],
      });
      await addUser('noor');
      const noor = { username: 'noor', password: PASSWORD };
      // a session begun on each node
      const sids = [
        await on('A', () => signIn(notes, new Browser(), noor, { redirectUri: REDIRECT })),
        await on('B', () => signIn(notes, new Browser(), noor, { redirectUri: REDIRECT })),
      ].map((s) => s.tokens.claims()!.sid);

      await cliOk(['user', 'sign-out', 'noor']);
      const deadline = Date.now() + 15_000;
      while (receiver.requests.length < 2 && Date.now() < deadline) await sleep(100);
      // both nodes read the trail every second: give the other one time to send again, which it must not
      await sleep(3000);
      const told = await Promise.all(
        receiver.requests.map(async (r) => (await verifiedLogoutToken(balancer!.url, r, 'notes')).sid),
      );
      expect(told.sort()).toEqual([...sids].sort());
      const recorded = (
        await cliOk(['audit', 'search', '--action', 'logout.backchannel', '--user', 'noor', '--json'])
      )
        .trim()
        .split('\n');
      expect(recorded).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  /** A browser on the password form of a fresh authorization request, through the balancer. */
  async function openSignIn() {
    const browser = new Browser();
    const page = await browser.navigate((await startAuthorization(app, { redirectUri: REDIRECT })).url.href);
    expect(isPasswordForm(page)).toBe(true);
    const form = readForm(page);
    return (username: string, password: string): Promise<Page> =>
      browser.navigate(form.action, { form: { ...form.fields, username, password } }, REDIRECT);
  }

  it('counts wrong passwords alternated over both nodes against one budget', async () => {
    await addUser('bert');
    const attempt = await openSignIn();
    const statuses: number[] = [];
    for (let i = 0; i <= FREE_ATTEMPTS; i++) {
      statuses.push((await on(i % 2 === 0 ? 'A' : 'B', () => attempt('bert', `wrong password ${i}`))).status);
    }
    // Per node only three (A) and two (B) failures were seen; the sixth attempt is the account's sixth.
    expect(statuses).toEqual([...Array<number>(FREE_ATTEMPTS).fill(401), 429]);
    // Now even the right password waits, on either node.
    expect((await on('A', () => attempt('bert', PASSWORD))).status).toBe(429);
    expect((await on('B', () => attempt('bert', PASSWORD))).status).toBe(429);
  });

  it('lets exactly the free attempts through when wrong passwords arrive at both nodes at the same time', async () => {
    await addUser('carla');
    const attempt = await openSignIn();
    const from = balancer!.routed.length;
    const pages = await Promise.all(
      Array.from({ length: 20 }, (_, i) => attempt('carla', `wrong password ${i}`)),
    );
    const served = balancer!.routed.slice(from);
    expect(served.filter((r) => r.node === 'A')).toHaveLength(10);
    expect(served.filter((r) => r.node === 'B')).toHaveLength(10);
    const statuses = pages.map((p) => p.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(FREE_ATTEMPTS);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20 - FREE_ATTEMPTS);
  });

  it('lets a user added with the CLI sign in on either node', async () => {
    await addUser('dirk');
    for (const node of ['A', 'B']) {
      const { tokens } = await on(node, () =>
        signIn(app, new Browser(), { username: 'dirk', password: PASSWORD }, { redirectUri: REDIRECT }),
      );
      expect(tokens.claims()).toMatchObject({ iss: balancer!.url, aud: 'app' });
    }
  });

  it('publishes a key rotated with the CLI on both nodes, and both sign with it once it is active', async () => {
    const before = await untilBothPublish(() => true);
    // a session from before the rotation (its cookie signed with the old cookie key)
    const earlier = new Browser();
    await on('A', () =>
      signIn(app, earlier, { username: 'anna', password: PASSWORD }, { redirectUri: REDIRECT }),
    );
    const out = await cliOk(['keys', 'rotate']);
    const newRsa = /New RS256 signing key: (\S+)/.exec(out)?.[1];
    const newEc = /New ES256 signing key: (\S+)/.exec(out)?.[1];
    expect(newRsa).toBeDefined();
    expect(newEc).toBeDefined();

    // Published by both at once, before it signs: applications get to see it first.
    const published = await untilBothPublish((kids) => kids.includes(newRsa!) && kids.includes(newEc!));
    for (const kids of published) expect(kids).toEqual(expect.arrayContaining(before[0]!));
    const early = await on('B', () =>
      signIn(app, new Browser(), { username: 'anna', password: PASSWORD }, { redirectUri: REDIRECT }),
    );
    expect(decodeProtectedHeader(early.tokens.id_token!).kid).not.toBe(newRsa);

    // After keys.activation_delay (5 s here: more than the 2 s poll, so a node publishes a key before it signs) each node notices on its next poll that the new key signs.
    await untilBothPublish((kids) => kids[0] === newRsa);
    const rp = await relyingParty();
    const sso = async (browser: Browser) =>
      authorizeInBrowser(browser, await startAuthorization(rp, { redirectUri: REDIRECT }));
    for (const [node, other] of [
      ['A', 'B'],
      ['B', 'A'],
    ] as const) {
      const browser = new Browser();
      const { tokens } = await on(node, () =>
        signIn(rp, browser, { username: 'anna', password: PASSWORD }, { redirectUri: REDIRECT }),
      );
      expect(decodeProtectedHeader(tokens.id_token!)).toMatchObject({ alg: 'RS256', kid: newRsa });
      // the session cookie one node signed with the new cookie key is good on the other
      expect((await on(other, () => sso(browser))).status).toBe(0);
    }
    // and the session from before the rotation still works on both
    for (const node of ['B', 'A']) expect((await on(node, () => sso(earlier))).status).toBe(0);
  });

  it('keeps the audit chain intact while both nodes append at the same time', async () => {
    // a fresh application: the one of the other tests cached the key set from before the rotation
    const rp = await relyingParty();
    // Three sign-ins per person: the throttle counts attempts in flight, and five at once would hit its limit.
    const people = ['anna', 'dirk'];
    for (const name of ['eva', 'femke']) {
      await addUser(name);
      people.push(name);
    }
    const from = balancer!.routed.length;
    const burst = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        signIn(
          rp,
          new Browser(),
          { username: people[i % people.length]!, password: PASSWORD },
          { redirectUri: REDIRECT },
        ),
      ),
    );
    expect(burst).toHaveLength(12);
    const posts = balancer!.routed.slice(from).filter((r) => r.method === 'POST');
    expect(posts.some((r) => r.node === 'A')).toBe(true);
    expect(posts.some((r) => r.node === 'B')).toBe(true);

    const verify = await cli(['audit', 'verify', '--json']);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    const report = JSON.parse(verify.stdout) as { ok: boolean; events: number };
    expect(report.ok).toBe(true);
    // Twelve sign-ins alone record more than 36 events (password, code, token); the rest of this file adds more.
    expect(report.events).toBeGreaterThan(36);
  });

  it('ships the audit trail to the SIEM from one node: every event once, in order', async () => {
    const [newest] = (await cliOk(['audit', 'search', '--limit', '1', '--json'])).trim().split('\n');
    const head = (JSON.parse(newest!) as { event: { sequence: number } }).event.sequence;
    const received = () =>
      siem!.requests.flatMap(
        (r) => (JSON.parse(r.body) as { events: Array<{ event: { id: string; sequence: number } }> }).events,
      );
    const deadline = Date.now() + 15_000;
    while (!received().some((d) => d.event.sequence >= head) && Date.now() < deadline) await sleep(100);
    // the node that does not ship reads the trail every second too: give it time to send again, which it must not
    await sleep(2000);
    const sequences = received().map((d) => d.event.sequence);
    expect(sequences.slice(0, head)).toEqual(Array.from({ length: head }, (_, i) => i + 1));
    expect(new Set(received().map((d) => d.event.id)).size).toBe(sequences.length);
  });
});
