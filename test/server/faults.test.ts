import * as oidc from 'openid-client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import {
  FAST_ARGON2,
  isPasswordForm,
  redeemCode,
  relyingParty,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { createTestDatabase, POSTGRES_ADMIN_URL, type TestDatabase } from '../helpers/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis-server.js';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'http://127.0.0.1:7777/cb';
const SECRET = 'app-secret-0123456789';
const TEMPORARILY_UNAVAILABLE = { error: 'temporarily_unavailable', error_description: expect.any(String) };
const UNAVAILABLE = {
  en: 'The service is temporarily unavailable. Try again in a minute.',
  nl: 'De dienst is tijdelijk niet beschikbaar. Probeer het over een minuut opnieuw.',
};

/** One answer Poort gave, as the browser or the application saw it. */
interface Answer {
  url: string;
  status: number;
  type: string;
  body: string;
}

/** A browser that keeps every answer it got, in a language of its own. */
class RecordingBrowser extends Browser {
  constructor(
    readonly lang: 'en' | 'nl',
    private readonly answers: Answer[],
  ) {
    super({ 'accept-language': lang });
  }
  override async request(url: string, init: Parameters<Browser['request']>[1] = {}): Promise<Page> {
    const page = await super.request(url, init);
    this.answers.push({
      url: page.url,
      status: page.status,
      type: page.headers.get('content-type') ?? '',
      body: page.body,
    });
    return page;
  }
}

/**
 * Every answer during an outage is either a normal one or a clean 503: Poort's page in the browser's language, or
 * the protocol's own JSON error; never another 5xx and never a stack trace.
 */
function expectClean(answers: Answer[]): void {
  for (const a of answers) {
    expect(a.body, `${a.url} answered with a stack trace`).not.toMatch(
      /\n\s+at [^\n]+:\d+:\d+|node_modules|Error: /,
    );
    if (a.status < 500) continue;
    expect({ url: a.url, status: a.status }).toEqual({ url: a.url, status: 503 });
    if (a.type.startsWith('application/json')) {
      expect(JSON.parse(a.body)).toMatchObject({
        error: expect.stringMatching(/^(temporarily_unavailable|server_error)$/),
      });
    } else {
      expect(a.type).toMatch(/^text\/html/);
      const lang = /<html lang="(en|nl)"/.exec(a.body)?.[1] as 'en' | 'nl' | undefined;
      expect(lang).toBeDefined();
      expect(a.body).toContain(UNAVAILABLE[lang!]);
    }
  }
}

describe('when Redis or PostgreSQL goes away', { timeout: 240_000 }, () => {
  let redis: PrivateRedis;
  let database: TestDatabase;
  let poort: TestPoort;
  let config: oidc.Configuration;
  let admin: pg.Client;
  const answers: Answer[] = [];
  let completed = 0;
  /** When each completed sign-in began (Date.now() at its authorization request). */
  const began: number[] = [];
  /** Sign-ins completed that began at or after `since`. */
  const completedSince = (since: number) => began.filter((t) => t >= since).length;

  /** One sign-in as a person and an application do it; true when the application got its tokens. */
  async function attempt(lang: 'en' | 'nl'): Promise<boolean> {
    const browser = new RecordingBrowser(lang, answers);
    const start = Date.now();
    try {
      const pending = await startAuthorization(config, { redirectUri: REDIRECT });
      const login = await browser.navigate(pending.url.href, {}, REDIRECT);
      if (!isPasswordForm(login)) return false;
      const form = readForm(login);
      const callback = await browser.navigate(
        form.action,
        { form: { ...form.fields, username: 'anna', password: PASSWORD } },
        REDIRECT,
      );
      if (callback.status !== 0) return false;
      const tokens = await redeemCode(config, callback, pending);
      expect(tokens.claims()?.sub).toBeTruthy();
      completed++;
      began.push(start);
      return true;
    } catch (err) {
      // what openid-client refused is in `answers` already (see customFetch); anything else is the test's own fault
      if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError)
        return false;
      if ((err as { cause?: unknown }).cause instanceof Response) return false;
      throw err;
    }
  }

  const lastTokenAnswer = () => {
    const answer = answers.filter((a) => a.url.endsWith('/token')).pop()!;
    return { status: answer.status, body: JSON.parse(answer.body) as unknown };
  };

  /**
   * A sign-in up to the application's callback, with the code not yet redeemed; tried again while the stores are
   * still coming back.
   */
  async function codeInHand() {
    for (let tries = 1; ; tries++) {
      const got = await tryCodeInHand();
      if (got) return got;
      if (tries === 20) throw new Error('no sign-in reached the callback');
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async function tryCodeInHand() {
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    const browser = new RecordingBrowser('en', answers);
    const login = await browser.navigate(pending.url.href, {}, REDIRECT);
    const form = readForm(login);
    const callback = await browser.navigate(
      form.action,
      { form: { ...form.fields, username: 'anna', password: PASSWORD } },
      REDIRECT,
    );
    return callback.status === 0 ? { pending, callback } : undefined;
  }

  /** Sign-ins by two people at once, over and over, until `until` resolves. */
  async function stream(until: Promise<unknown>): Promise<{ ok: number; failed: number }> {
    let done = false;
    void until.finally(() => (done = true));
    const counts = { ok: 0, failed: 0 };
    await Promise.all(
      (['en', 'nl'] as const).map(async (lang) => {
        while (!done) {
          if (await attempt(lang)) counts.ok++;
          else {
            counts.failed++;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }),
    );
    await until;
    return counts;
  }

  async function readyz(): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${poort.issuer}/readyz`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function waitFor(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits until `n` more sign-ins have completed. */
  const moreSignIns = async (n: number) => {
    const target = completed + n;
    await waitFor(`${n} more sign-ins complete`, async () => completed >= target, 60_000);
  };

  /** Every sign-in the application completed was recorded, and the trail is intact. */
  async function expectAudited(): Promise<void> {
    const issued = await poort.services.audit.query({ action: 'token.issued', app: 'app', limit: 100_000 });
    expect(issued.length).toBe(completed);
    const signedIn = await poort.services.audit.query({ action: 'signin.completed', limit: 100_000 });
    expect(signedIn.length).toBeGreaterThanOrEqual(completed);
    expect(await poort.services.audit.verify()).toMatchObject({ ok: true });
  }

  beforeAll(async () => {
    redis = await startPrivateRedis();
    database = await createTestDatabase();
    poort = await startPoort(
      FAST_ARGON2 +
        `storage:
  durable: postgres
  database_url: '${database.url}'
  postgres: { connect_timeout: 2s }
  ephemeral: redis
  redis_url: '${redis.url}'
  redis: { reconnect_max_delay: 1s }
`,
    );
    await poort.addUser({ username: 'anna', password: PASSWORD });
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    config = await relyingParty(poort, 'app', SECRET);
    config[oidc.customFetch] = async (url, options) => {
      const res = await fetch(url, options as RequestInit);
      answers.push({
        url,
        status: res.status,
        type: res.headers.get('content-type') ?? '',
        body: await res.clone().text(),
      });
      return res;
    };
    admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.query(`ALTER DATABASE ${database.name} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin?.end();
    await poort?.stop();
    await redis?.stop();
    await database?.drop();
  });

  it('is ready with both stores up', async () => {
    expect(await readyz()).toEqual({
      status: 200,
      body: {
        status: 'ready',
        durable: { store: 'postgres', status: 'up' },
        ephemeral: { store: 'redis', status: 'up' },
      },
    });
    expect(await attempt('en')).toBe(true);
  });

  it('answers 503 while Redis is down and signs people in again once it is back, without a restart', async () => {
    answers.length = 0;
    const outage = (async () => {
      await moreSignIns(3);
      await redis.stop();
      try {
        await waitFor('/readyz is 503', async () => (await readyz()).status === 503);
        expect((await readyz()).body).toEqual({
          status: 'unavailable',
          durable: { store: 'postgres', status: 'up' },
          ephemeral: { store: 'redis', status: 'down' },
        });
        expect((await fetch(`${poort.issuer}/healthz`)).status).toBe(200);
        // No sign-in begun while Redis is down completes: its state cannot be kept. (One in flight when Redis went
        // away may still complete, when its last Redis write came just before.)
        const down = Date.now();
        await new Promise((r) => setTimeout(r, 2_000));
        expect(completedSince(down)).toBe(0);
      } finally {
        await redis.start();
      }
      await waitFor('/readyz is 200', async () => (await readyz()).status === 200);
      await moreSignIns(3);
    })();
    const counts = await stream(outage);
    expect(counts.failed).toBeGreaterThan(0);
    // The pages people saw (a code fetched just before Redis went away makes the token endpoint answer 503 in JSON:
    // expectClean checks those).
    const pages = answers
      .filter((a) => a.status === 503 && a.type.startsWith('text/html'))
      .map((a) => /<html lang="(en|nl)"/.exec(a.body)?.[1]);
    expect(new Set(pages)).toEqual(new Set(['en', 'nl']));
    expectClean(answers);
    await expectAudited();
    expect(await readyz()).toMatchObject({ status: 200 });
  });

  it('answers the token endpoint with temporarily_unavailable and no token while either store is down', async () => {
    answers.length = 0;
    const beforeRedis = await codeInHand();
    await redis.stop();
    await waitFor('/readyz is 503', async () => (await readyz()).status === 503);
    await expect(redeemCode(config, beforeRedis.callback, beforeRedis.pending)).rejects.toThrow();
    expect(lastTokenAnswer()).toEqual({ status: 503, body: TEMPORARILY_UNAVAILABLE });
    await redis.start();
    await waitFor('/readyz is 200', async () => (await readyz()).status === 200);

    const beforePostgres = await codeInHand();
    await admin.query(`ALTER DATABASE ${database.name} ALLOW_CONNECTIONS false`);
    await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [database.name],
    );
    try {
      // the code is redeemed in Redis, but the event cannot be stored: the token never leaves
      await expect(redeemCode(config, beforePostgres.callback, beforePostgres.pending)).rejects.toThrow();
      expect(lastTokenAnswer()).toEqual({ status: 503, body: TEMPORARILY_UNAVAILABLE });
    } finally {
      await admin.query(`ALTER DATABASE ${database.name} ALLOW_CONNECTIONS true`);
    }
    await waitFor('/readyz is 200', async () => (await readyz()).status === 200);
    expect(answers.filter((a) => a.url.endsWith('/token')).map((a) => a.status)).toEqual([503, 503]);
    expectClean(answers);
    await expectAudited();
  });

  it('recovers by itself when PostgreSQL drops every connection of Poort during a run', async () => {
    answers.length = 0;
    const drops = (async () => {
      await moreSignIns(2);
      for (let i = 0; i < 3; i++) {
        await admin.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [database.name],
        );
        await moreSignIns(2);
      }
    })();
    await stream(drops);
    expectClean(answers);
    await expectAudited();
    expect(await readyz()).toMatchObject({ status: 200 });
  });

  it('answers 503 while PostgreSQL refuses connections and recovers when it takes them again', async () => {
    answers.length = 0;
    const outage = (async () => {
      await moreSignIns(2);
      await admin.query(`ALTER DATABASE ${database.name} ALLOW_CONNECTIONS false`);
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [database.name],
      );
      try {
        await waitFor('/readyz is 503', async () => (await readyz()).status === 503);
        expect((await readyz()).body).toEqual({
          status: 'unavailable',
          durable: { store: 'postgres', status: 'down' },
          ephemeral: { store: 'redis', status: 'up' },
        });
        const down = Date.now();
        await new Promise((r) => setTimeout(r, 2_000));
        expect(completedSince(down)).toBe(0);
      } finally {
        await admin.query(`ALTER DATABASE ${database.name} ALLOW_CONNECTIONS true`);
      }
      await waitFor('/readyz is 200', async () => (await readyz()).status === 200);
      await moreSignIns(3);
    })();
    const counts = await stream(outage);
    expect(counts.failed).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status === 503).length).toBeGreaterThan(0);
    expectClean(answers);
    await expectAudited();
  });
});
