import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { ScimTokens } from '../../src/scim/tokens.js';
import { runCliOn } from '../helpers/cli.js';
import { FAST_ARGON2 } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { eventsSince, lastSeq } from '../helpers/trail.js';

const SECRET = 'hr-secret-0123456789abcdef';
const only = (events: AuditEvent[], action: string) => events.filter((e) => e.action === action);

interface Token {
  id: string;
  clientId: string;
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string | null;
  token: string;
}

// Each test runs the CLI; allow for a slow, busy machine.
describe('fixed SCIM tokens (poort scim token)', { timeout: 60_000 }, () => {
  let poort: TestPoort;

  const cli = (...args: string[]) => runCliOn(poort, args);
  const users = (token: string) =>
    fetch(`${poort.issuer}/scim/v2/Users?count=1`, { headers: { authorization: `Bearer ${token}` } });

  async function add(clientId: string, ...extra: string[]): Promise<Token> {
    const made = await cli('scim', 'token', 'add', clientId, '--json', ...extra);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    return JSON.parse(made.stdout) as Token;
  }

  beforeAll(async () => {
    poort = await startPoort(`${FAST_ARGON2}scim: { clients: [hr, gone] }\n`);
    for (const clientId of ['hr', 'other', 'gone'])
      await poort.addClient({ clientId, secret: SECRET, grantTypes: ['client_credentials'] });
  });
  afterAll(async () => poort?.stop());

  it('lets a connector provision with a token made once, and keeps only its hash', async () => {
    const seq = await lastSeq(poort);
    const made = await add('hr', '--lifetime', '180d');
    expect(made.token).toMatch(/^poort_scim_[\w-]{43}$/);
    expect(made.clientId).toBe('hr');
    expect(made.lastUsedAt).toBeNull();
    const before = new Date().toISOString();
    const days = (Date.parse(made.expiresAt) - Date.parse(made.createdAt)) / 86400_000;
    expect(days).toBe(180);

    const answer = await users(made.token);
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { schemas: string[] }).schemas).toEqual([
      'urn:ietf:params:scim:api:messages:2.0:ListResponse',
    ]);
    // a change made with it is the client's
    const created = await fetch(`${poort.issuer}/scim/v2/Users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${made.token}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify({
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: 'tessa',
        emails: [{ value: 'tessa@school.example', primary: true }],
      }),
    });
    expect(created.status).toBe(201);

    const events = await eventsSince(poort, seq);
    expect(only(events, 'scim.token.created')[0]).toMatchObject({
      outcome: 'success',
      actor: { type: 'cli' },
      application: { id: 'hr' },
      details: { token_id: made.id, expires_at: made.expiresAt },
    });
    expect(only(events, 'user.created')[0]).toMatchObject({
      actor: { type: 'client', id: 'hr' },
      details: { via: 'scim' },
    });
    // neither the trail nor the store holds the token
    expect(JSON.stringify(events)).not.toContain(made.token);
    const rows = await poort.services.db.selectFrom('scim_tokens').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(made.token.slice('poort_scim_'.length));

    // when it was last used: written at its first use, then at most once an hour
    const lastUsed = async () =>
      (await new ScimTokens(poort.services.db).list()).find((t) => t.id === made.id)!.lastUsedAt;
    const first = await lastUsed();
    expect(first! >= before).toBe(true);
    expect((await users(made.token)).status).toBe(200);
    expect(await lastUsed()).toBe(first);
    await poort.services.db
      .updateTable('scim_tokens')
      .set({ last_used_at: new Date(Date.now() - 3601_000).toISOString() })
      .where('id', '=', made.id)
      .execute();
    expect((await users(made.token)).status).toBe(200);
    expect(await lastUsed()).not.toBe(first);
    expect((await lastUsed())! >= first!).toBe(true);

    const listed = await cli('scim', 'token', 'list');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${made.id}\\s+hr\\s+\\S+\\s+\\S+\\s+\\S+\\s+works$`, 'm'));
    expect(listed.stdout).toMatch(/^ID\s+CLIENT\s+CREATED\s+EXPIRES\s+LAST USED\s+STATE$/m);
    expect(listed.stdout).not.toContain(made.token);
    const unused = await add('hr');
    expect((await cli('scim', 'token', 'list')).stdout).toMatch(
      new RegExp(`^${unused.id}\\s+hr\\s+\\S+\\s+\\S+\\s+never\\s+works$`, 'm'),
    );
  });

  it('refuses a revoked, an expired and a forged token, and those of a removed client', async () => {
    const revoked = await add('hr');
    const expired = await add('hr');
    const ofGone = await add('gone');
    expect((await users(revoked.token)).status).toBe(200);
    expect((await users(ofGone.token)).status).toBe(200);

    const seq = await lastSeq(poort);
    const out = await cli('scim', 'token', 'revoke', revoked.id);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(`Revoked SCIM token ${revoked.id} of client hr\n`);
    await poort.services.db
      .updateTable('scim_tokens')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', expired.id)
      .execute();
    const removed = await cli('client', 'remove', 'gone');
    expect(removed.code).toBe(0);

    const forged = `poort_scim_${'A'.repeat(43)}`;
    for (const token of [revoked.token, expired.token, ofGone.token, forged]) {
      const answer = await users(token);
      expect(answer.status, token).toBe(401);
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    const events = await eventsSince(poort, seq);
    expect(only(events, 'scim.token.revoked')[0]).toMatchObject({
      application: { id: 'hr' },
      details: { token_id: revoked.id },
    });
    expect(only(events, 'client.removed')[0]).toMatchObject({ details: { scim_tokens_removed: 1 } });
    expect(only(events, 'scim.rejected').map((e) => e.reason)).toEqual([
      'invalid_token',
      'invalid_token',
      'invalid_token',
      'invalid_token',
    ]);
    expect((await new ScimTokens(poort.services.db).list()).map((t) => t.id)).not.toContain(ofGone.id);
  });

  it('makes tokens only for registered clients that scim.clients names, and says what is wrong', async () => {
    const notAllowed = await cli('scim', 'token', 'add', 'other');
    expect(notAllowed.code).toBe(1);
    expect(notAllowed.stderr).toBe(
      'poort: client other may not provision users: name it in scim.clients of the configuration first\n',
    );
    const unknown = await cli('scim', 'token', 'add', 'nobody');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('poort: no client nobody\n');
    for (const lifetime of ['2h', '1096d', 'forever']) {
      const bad = await cli('scim', 'token', 'add', 'hr', '--lifetime', lifetime);
      expect(bad.code, lifetime).toBe(2);
      expect(bad.stderr).toContain('a lifetime such as 180d or 365d (at least 1d, at most 1095d)');
    }
    const noSuch = await cli('scim', 'token', 'revoke', 'abc');
    expect(noSuch.code).toBe(1);
    expect(noSuch.stderr).toBe('poort: no SCIM token abc\n');
    const usage = await cli('scim', 'token', 'frobnicate');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('Usage: poort scim token');
  });
});
