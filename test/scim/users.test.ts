import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { whileAuditRefused } from '../helpers/backend.js';
import { Browser } from '../helpers/browser.js';
import { expectSignedOut, FAST_ARGON2, relyingParty, signIn, verifiedLogoutToken } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { eventAfter, eventsSince, lastSeq } from '../helpers/trail.js';

const SECRET = 'hr-secret-0123456789abcdef';
const REDIRECT = 'http://127.0.0.1:7961/cb';
const PASSWORD = 'a passphrase nobody guesses';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

const only = (events: AuditEvent[], action: string) => events.filter((e) => e.action === action);

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

describe('SCIM 2.0 provisioning of users (/scim/v2)', { timeout: 60_000 }, () => {
  let poort: TestPoort;
  let hr: string;
  let other: string;
  let wiki: oidc.Configuration;
  /** the wiki's server side, told of sign-outs (back-channel logout) */
  let receiver: Receiver;

  async function tokenOf(clientId: string): Promise<string> {
    const config = await relyingParty(poort, clientId, SECRET);
    return (await oidc.clientCredentialsGrant(config)).access_token;
  }

  async function scim(
    method: string,
    path: string,
    body?: unknown,
    options: { token?: string | null; raw?: string } = {},
  ): Promise<Answer> {
    const token = options.token === undefined ? hr : options.token;
    const res = await fetch(`${poort.issuer}/scim/v2${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined || options.raw ? { 'content-type': 'application/scim+json' } : {}),
      },
      ...(options.raw ? { body: options.raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  }

  const entraUser = (userName: string, externalId: string, extra: Record<string, unknown> = {}) => ({
    schemas: [USER_SCHEMA, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
    externalId,
    userName,
    active: true,
    displayName: 'Anna de Vries',
    name: { formatted: 'Anna de Vries', givenName: 'Anna', familyName: 'de Vries' },
    emails: [{ primary: true, type: 'work', value: `${userName}@school.example` }],
    phoneNumbers: [{ type: 'mobile', value: '+31 6 12345678' }],
    title: 'Teacher',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': {
      employeeNumber: externalId,
      department: 'Maths',
    },
    ...extra,
  });

  beforeAll(async () => {
    [poort, receiver] = await Promise.all([
      startPoort(`${FAST_ARGON2}scim: { clients: [hr] }\n`),
      startReceiver(),
    ]);
    for (const clientId of ['hr', 'other'])
      await poort.addClient({ clientId, secret: SECRET, grantTypes: ['client_credentials'] });
    await poort.addClient({
      clientId: 'wiki',
      secret: SECRET,
      redirectUris: [REDIRECT],
      backchannelLogoutUri: receiver.url('/wiki/bcl'),
    });
    [hr, other] = await Promise.all([tokenOf('hr'), tokenOf('other')]);
    wiki = await relyingParty(poort, 'wiki', SECRET);
  });
  afterAll(async () => {
    await poort?.stop();
    await receiver?.close();
  });

  it('answers only an access token of a client scim.clients names, and records the refusals', async () => {
    const seq = await lastSeq(poort);
    const config = await scim('GET', '/ServiceProviderConfig');
    expect(config.status).toBe(200);
    expect(config.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    expect(config.body).toMatchObject({
      patch: { supported: true },
      bulk: { supported: false },
      filter: { supported: true },
    });
    expect((await scim('GET', '/ResourceTypes')).body).toMatchObject({ totalResults: 2 });
    expect((await scim('GET', '/Schemas')).body).toMatchObject({
      Resources: [{ id: USER_SCHEMA }, { id: 'urn:ietf:params:scim:schemas:core:2.0:Group' }],
    });

    const none = await scim('GET', '/Users', undefined, { token: null });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(none.body).toMatchObject({ schemas: [ERROR_SCHEMA], status: '401' });
    expect((await scim('GET', '/Users', undefined, { token: 'not-a-token' })).status).toBe(401);
    const wrong = await scim('GET', '/Users', undefined, { token: other });
    expect(wrong.status).toBe(403);
    const rejected = only(await eventsSince(poort, seq), 'scim.rejected');
    expect(rejected.map((e) => [e.reason, e.actor.id])).toEqual([
      ['no_token', undefined],
      ['invalid_token', undefined],
      ['client_not_allowed', 'other'],
    ]);
  });

  it('creates a user from an HR record, keeps what Poort keeps, and refuses a second with the same name or id', async () => {
    const seq = await lastSeq(poort);
    const created = await scim('POST', '/Users', entraUser('anna', 'E1001'));
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.headers.get('location')).toBe(`${poort.issuer}/scim/v2/Users/${id}`);
    expect(created.body).toMatchObject({
      schemas: [USER_SCHEMA],
      externalId: 'E1001',
      userName: 'anna',
      name: { formatted: 'Anna de Vries', givenName: 'Anna', familyName: 'de Vries' },
      emails: [{ value: 'anna@school.example', primary: true }],
      active: true,
      meta: { resourceType: 'User', location: `${poort.issuer}/scim/v2/Users/${id}` },
    });
    expect(created.body).not.toHaveProperty('phoneNumbers');
    const user = (await poort.services.users.findById(id))!;
    expect(user).toMatchObject({
      username: 'anna',
      email: 'anna@school.example',
      enabled: true,
      hasPassword: false,
    });
    expect(only(await eventsSince(poort, seq), 'user.created')[0]).toMatchObject({
      actor: { type: 'client', id: 'hr' },
      subject: { id, username: 'anna' },
      application: { id: 'hr' },
      details: { via: 'scim', external_id: 'E1001', active: true },
    });

    const again = await scim('POST', '/Users', entraUser('anna', 'E9999'));
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ schemas: [ERROR_SCHEMA], scimType: 'uniqueness' });
    expect((await scim('POST', '/Users', entraUser('anne', 'E1001'))).body).toMatchObject({
      scimType: 'uniqueness',
    });
    expect(await poort.services.users.findByUsername('anne')).toBeUndefined();
  });

  it('finds users by userName, externalId and e-mail, and pages the list', async () => {
    await scim('POST', '/Users', entraUser('bart', 'E1002'));
    await scim('POST', '/Users', entraUser('cees', 'E1003', { active: false }));
    const find = async (filter: string) =>
      (await scim('GET', `/Users?filter=${encodeURIComponent(filter)}`)).body as {
        totalResults: number;
        Resources: Array<{ userName: string; active: boolean }>;
      };
    expect((await find('userName eq "bart"')).Resources.map((u) => u.userName)).toEqual(['bart']);
    expect((await find('externalId eq "E1003"')).Resources).toMatchObject([
      { userName: 'cees', active: false },
    ]);
    expect((await find('emails[value eq "anna@school.example"]')).Resources.map((u) => u.userName)).toEqual([
      'anna',
    ]);
    expect((await find('emails.value eq "anna@school.example"')).totalResults).toBe(1);
    expect((await find('userName eq "nobody"')).totalResults).toBe(0);
    const page = await scim('GET', '/Users?startIndex=2&count=1');
    expect(page.body).toMatchObject({
      totalResults: 3,
      startIndex: 2,
      itemsPerPage: 1,
      Resources: [{ userName: 'bart' }],
    });
    // only what is asked for, on the list and on one user
    const lean = await scim(
      'GET',
      `/Users?attributes=userName,emails.value&filter=${encodeURIComponent('userName eq "bart"')}`,
    );
    const [bart] = (lean.body as { Resources: Array<Record<string, unknown>> }).Resources;
    expect(bart).toEqual({
      schemas: [USER_SCHEMA],
      id: bart!.id,
      userName: 'bart',
      emails: [{ value: 'bart@school.example' }],
    });
    const one = await scim('GET', `/Users/${String(bart!.id)}?excludedAttributes=name,emails,meta`);
    expect(Object.keys(one.body).sort()).toEqual([
      'active',
      'displayName',
      'externalId',
      'groups',
      'id',
      'schemas',
      'userName',
    ]);
    const bad = await scim('GET', `/Users?filter=${encodeURIComponent('userName sw "a"')}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ scimType: 'invalidFilter' });
  });

  it('disables a leaver at once (signed out everywhere) and enables them again, as Entra ID and Okta send it', async () => {
    const id = (await scim('POST', '/Users', entraUser('dirk', 'E1004'))).body.id as string;
    await poort.services.users.setPasswordHash(id, await poort.services.hasher.hash(PASSWORD));
    const browser = new Browser();
    const before = await signIn(
      wiki,
      browser,
      { username: 'dirk', password: PASSWORD },
      { redirectUri: REDIRECT, scope: 'openid profile email offline_access' },
    );
    expect(before.tokens.claims()).toMatchObject({ sub: id });
    expect(await oidc.fetchUserInfo(wiki, before.tokens.access_token, id)).toMatchObject({
      name: 'Anna de Vries',
      email: 'dirk@school.example',
    });

    const seq = await lastSeq(poort);
    const left = await scim('PATCH', `/Users/${id}`, {
      schemas: [PATCH_SCHEMA],
      Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
    });
    expect(left.status).toBe(200);
    expect(left.body).toMatchObject({ active: false });
    await expectSignedOut(wiki, REDIRECT, browser, before.tokens, id);
    expect(only(await eventsSince(poort, seq), 'user.disabled')[0]).toMatchObject({
      actor: { type: 'client', id: 'hr' },
      subject: { id, username: 'dirk' },
      details: { via: 'scim', signed_out_everywhere: true },
    });
    // the wiki keeps a session of its own: it is told (back-channel logout), for the session it signed in with
    const told = await eventAfter(
      poort,
      seq,
      (e) => e.action === 'logout.backchannel' && e.subject?.id === id,
    );
    expect(told.details).toMatchObject({
      cause: { action: 'user.disabled' },
      sessions: 1,
      notified: ['wiki'],
    });
    expect(
      await verifiedLogoutToken(poort.issuer, await receiver.waitFor('/wiki/bcl'), 'wiki'),
    ).toMatchObject({
      sub: id,
      sid: before.tokens.claims()!.sid,
    });

    const back = await scim('PATCH', `/Users/${id}`, {
      schemas: [PATCH_SCHEMA],
      Operations: [{ op: 'replace', value: { active: true } }],
    });
    expect(back.body).toMatchObject({ active: true });
    expect((await poort.services.users.findById(id))!.enabled).toBe(true);
  });

  it('follows a mover: a new name, address and userName under the same id (sub)', async () => {
    const id = (await scim('POST', '/Users', entraUser('eva', 'E1005'))).body.id as string;
    const seq = await lastSeq(poort);
    const moved = await scim('PATCH', `/Users/${id}`, {
      schemas: [PATCH_SCHEMA],
      Operations: [
        { op: 'replace', path: 'userName', value: 'eva.smit' },
        { op: 'replace', path: 'name.familyName', value: 'Smit' },
        { op: 'replace', path: 'displayName', value: 'Eva Smit' },
        { op: 'replace', path: 'emails[type eq "work"].value', value: 'eva.smit@school.example' },
        {
          op: 'add',
          path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department',
          value: 'Arts',
        },
      ],
    });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({
      id,
      userName: 'eva.smit',
      name: { formatted: 'Eva Smit', familyName: 'Smit' },
      emails: [{ value: 'eva.smit@school.example' }],
    });
    expect(only(await eventsSince(poort, seq), 'user.updated')[0]).toMatchObject({
      subject: { id, username: 'eva.smit' },
      details: {
        changed: ['username', 'email', 'name', 'family_name'],
        previous_username: 'eva',
        via: 'scim',
      },
    });

    const replaced = await scim('PUT', `/Users/${id}`, {
      schemas: [USER_SCHEMA],
      externalId: 'E2005',
      userName: 'eva.smit',
      name: { givenName: 'Eva', familyName: 'Smit-Jansen' },
      emails: [{ value: 'eva.smit@school.example', primary: true }],
      active: true,
    });
    expect(replaced.body).toMatchObject({ externalId: 'E2005', name: { formatted: 'Eva Smit-Jansen' } });
  });

  it('answers bad requests with SCIM errors, and changes nothing', async () => {
    const id = (await scim('POST', '/Users', entraUser('fleur', 'E1006'))).body.id as string;
    const cases: Array<[Answer, number, string | undefined]> = [
      [await scim('POST', '/Users', undefined, { raw: '{"userName": ' }), 400, 'invalidSyntax'],
      [await scim('POST', '/Users', { userName: 'gijs' }), 400, 'invalidValue'],
      [
        await scim('POST', '/Users', { userName: 'gijs', emails: [{ value: 'not an address' }] }),
        400,
        'invalidValue',
      ],
      [
        await scim('POST', '/Users', { userName: 'x y', emails: [{ value: 'g@school.example' }] }),
        400,
        'invalidValue',
      ],
      [
        await scim('POST', '/Users', {
          userName: 'gijs',
          emails: [{ value: 'g@school.example' }],
          shoeSize: 44,
        }),
        400,
        'invalidPath',
      ],
      [
        await scim('PATCH', `/Users/${id}`, { Operations: [{ op: 'remove', path: 'userName' }] }),
        400,
        'mutability',
      ],
      [
        await scim('PATCH', `/Users/${id}`, { Operations: [{ op: 'move', path: 'userName' }] }),
        400,
        'invalidSyntax',
      ],
      [
        await scim('PATCH', `/Users/${id}`, {
          Operations: [{ op: 'replace', path: 'active', value: 'maybe' }],
        }),
        400,
        'invalidValue',
      ],
      [await scim('PATCH', `/Users/${id}`, { nothing: true }), 400, 'invalidSyntax'],
      [await scim('GET', '/Users/00000000-0000-0000-0000-000000000000'), 404, undefined],
      [await scim('GET', '/Bulk'), 404, undefined],
      [await scim('GET', '/Users?count=many'), 400, 'invalidValue'],
      [await scim('POST', '/Users', { userName: 'gijs', title: 'x'.repeat(70_000) }), 413, undefined],
    ];
    for (const [answer, status, scimType] of cases) {
      expect(answer.status).toBe(status);
      expect(answer.headers.get('content-type')).toMatch(/^application\/scim\+json/);
      expect(answer.body).toMatchObject({
        schemas: [ERROR_SCHEMA],
        status: String(status),
        ...(scimType ? { scimType } : {}),
      });
    }
    expect(await poort.services.users.findByUsername('gijs')).toBeUndefined();
    expect((await poort.services.users.findById(id))!.username).toBe('fleur');
  });

  it('fails closed when the change cannot be recorded: a SCIM 503, and no user', async () => {
    const refused = await whileAuditRefused(poort, () => scim('POST', '/Users', entraUser('ivo', 'E1008')));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect(refused.body).toMatchObject({ schemas: [ERROR_SCHEMA], status: '503' });
    expect(JSON.stringify(refused.body)).not.toContain('disk full');
    expect(await poort.services.users.findByUsername('ivo')).toBeUndefined();
    expect((await scim('POST', '/Users', entraUser('ivo', 'E1008'))).status).toBe(201);
  });

  it('removes a user, who can no longer be found', async () => {
    const id = (await scim('POST', '/Users', entraUser('hugo', 'E1007'))).body.id as string;
    const seq = await lastSeq(poort);
    const removed = await scim('DELETE', `/Users/${id}`);
    expect(removed.status).toBe(204);
    expect((await scim('GET', `/Users/${id}`)).status).toBe(404);
    expect(await poort.services.users.findById(id)).toBeUndefined();
    expect(only(await eventsSince(poort, seq), 'user.removed')[0]).toMatchObject({
      actor: { type: 'client', id: 'hr' },
      subject: { id, username: 'hugo' },
      details: { via: 'scim' },
    });
  });
});

describe('SCIM without clients', () => {
  let poort: TestPoort;
  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
  });
  afterAll(async () => poort?.stop());

  it('is not there', async () => {
    expect((await fetch(`${poort.issuer}/scim/v2/Users`)).status).toBe(404);
  });
});
