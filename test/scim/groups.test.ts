import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { Browser } from '../helpers/browser.js';
import { FAST_ARGON2, relyingParty, signIn } from '../helpers/oidc.js';
import { setPolicy } from '../helpers/policy.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { eventsSince, lastSeq } from '../helpers/trail.js';

const SECRET = 'hr-secret-0123456789abcdef';
const REDIRECT = 'http://127.0.0.1:7962/cb';
const PASSWORD = 'a passphrase nobody guesses';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** What these tests read of SCIM's answers. */
interface ScimBody {
  id?: string;
  displayName?: string;
  members?: Array<{ value: string }>;
  scimType?: string;
  [key: string]: unknown;
}

const only = (events: AuditEvent[], action: string) => events.filter((e) => e.action === action);

describe('SCIM 2.0 provisioning of groups (/scim/v2/Groups)', { timeout: 60_000 }, () => {
  let poort: TestPoort;
  let token: string;
  let wiki: oidc.Configuration;
  const ids: Record<string, string> = {};

  async function scim(method: string, path: string, body?: unknown) {
    const res = await fetch(`${poort.issuer}/scim/v2${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: (text ? JSON.parse(text) : {}) as ScimBody,
    };
  }

  const memberIds = (group: ScimBody) => (group.members ?? []).map((m) => m.value).sort();

  beforeAll(async () => {
    poort = await startPoort(`${FAST_ARGON2}scim: { clients: [hr] }\n`);
    await poort.addClient({ clientId: 'hr', secret: SECRET, grantTypes: ['client_credentials'] });
    await poort.addClient({ clientId: 'wiki', secret: SECRET, redirectUris: [REDIRECT] });
    token = (await oidc.clientCredentialsGrant(await relyingParty(poort, 'hr', SECRET))).access_token;
    wiki = await relyingParty(poort, 'wiki', SECRET);
    for (const username of ['anna', 'bart', 'cees'])
      ids[username] = await poort.addUser({ username, password: PASSWORD });
  });
  afterAll(async () => poort?.stop());

  it('creates a group with members, whom the groups claim then shows', async () => {
    const seq = await lastSeq(poort);
    const created = await scim('POST', '/Groups', {
      schemas: [GROUP_SCHEMA],
      displayName: 'teachers',
      members: [{ value: ids.anna }, { value: ids.bart }],
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`${poort.issuer}/scim/v2/Groups/${created.body.id}`);
    expect(created.body).toMatchObject({ schemas: [GROUP_SCHEMA], displayName: 'teachers' });
    expect(memberIds(created.body)).toEqual([ids.anna, ids.bart].sort());
    const events = only(await eventsSince(poort, seq), 'group.changed');
    expect(events.map((e) => [e.details!.change, e.subject?.username])).toEqual([
      ['created', undefined],
      ['member_added', 'anna'],
      ['member_added', 'bart'],
    ]);
    expect(events[0]).toMatchObject({
      actor: { type: 'client', id: 'hr' },
      details: { via: 'scim', group: 'teachers' },
    });

    const signedIn = await signIn(
      wiki,
      new Browser(),
      { username: 'anna', password: PASSWORD },
      { redirectUri: REDIRECT, scope: 'openid groups' },
    );
    expect(signedIn.tokens.claims()!.groups).toEqual(['teachers']);
    expect((await scim('POST', '/Groups', { displayName: 'teachers' })).body).toMatchObject({
      scimType: 'uniqueness',
    });
  });

  it('adds and removes members as Entra ID and Okta send it, and finds groups by name', async () => {
    const id = (await scim('POST', '/Groups', { displayName: 'maths' })).body.id as string;
    const patch = (...Operations: unknown[]) =>
      scim('PATCH', `/Groups/${id}`, { schemas: [PATCH_SCHEMA], Operations });
    expect(
      memberIds(
        (await patch({ op: 'Add', path: 'members', value: [{ value: ids.anna }, { value: ids.cees }] })).body,
      ),
    ).toEqual([ids.anna, ids.cees].sort());
    expect(
      memberIds((await patch({ op: 'Remove', path: 'members', value: [{ value: ids.anna }] })).body),
    ).toEqual([ids.cees]);
    expect(memberIds((await patch({ op: 'remove', path: `members[value eq "${ids.cees}"]` })).body)).toEqual(
      [],
    );
    expect(
      memberIds(
        (await patch({ op: 'replace', value: { id, displayName: 'maths', members: [{ value: ids.bart }] } }))
          .body,
      ),
    ).toEqual([ids.bart]);
    const put = await scim('PUT', `/Groups/${id}`, { displayName: 'maths', members: [{ value: ids.anna }] });
    expect(memberIds(put.body)).toEqual([ids.anna]);
    const found = await scim('GET', `/Groups?filter=${encodeURIComponent('displayName eq "maths"')}`);
    expect(found.body).toMatchObject({ totalResults: 1, Resources: [{ id, displayName: 'maths' }] });
    expect((found.body.Resources as Array<{ members?: unknown }>)[0]!.members).toHaveLength(1);
    // Entra ID looks a group up without its members
    const lean = await scim(
      'GET',
      `/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "maths"')}`,
    );
    expect(Object.keys((lean.body.Resources as Array<Record<string, unknown>>)[0]!).sort()).toEqual([
      'displayName',
      'id',
      'meta',
      'schemas',
    ]);
    const named = await scim('GET', `/Groups/${id}?attributes=displayName`);
    expect(named.body).toEqual({ schemas: [GROUP_SCHEMA], id, displayName: 'maths' });
    expect((await scim('GET', '/Groups/no-such-group?attributes=displayName')).status).toBe(404);
    const byId = await scim(
      'GET',
      `/Groups?excludedAttributes=members&filter=${encodeURIComponent(`id eq "${id}"`)}`,
    );
    expect(byId.body).toMatchObject({ totalResults: 1, Resources: [{ id, displayName: 'maths' }] });
    expect((byId.body.Resources as Array<{ members?: unknown }>)[0]!.members).toBeUndefined();
    const none = await scim('GET', `/Groups?filter=${encodeURIComponent('displayName eq "Maths"')}`);
    expect(none.body).toMatchObject({ totalResults: 0, Resources: [] });
  });

  it('keeps names, unknown members and administrative groups out of its reach', async () => {
    const id = (await scim('POST', '/Groups', { displayName: 'arts' })).body.id as string;
    const rename = await scim('PATCH', `/Groups/${id}`, {
      schemas: [PATCH_SCHEMA],
      Operations: [{ op: 'replace', path: 'displayName', value: 'music' }],
    });
    expect(rename.status).toBe(400);
    expect(rename.body).toMatchObject({ scimType: 'mutability' });
    const stranger = await scim('PATCH', `/Groups/${id}`, {
      schemas: [PATCH_SCHEMA],
      Operations: [{ op: 'add', path: 'members', value: [{ value: ids.anna }, { value: 'no-such-user' }] }],
    });
    expect(stranger.status).toBe(400);
    expect(stranger.body).toMatchObject({ scimType: 'invalidValue' });
    expect((await scim('GET', `/Groups/${id}`)).body.members).toEqual([]);
    expect((await scim('POST', '/Groups', { displayName: 'poort-helpdesk' })).status).toBe(403);
    expect((await scim('POST', '/Groups', { displayName: 'IT & Security' })).body).toMatchObject({
      scimType: 'invalidValue',
    });
    expect((await scim('GET', `/Groups?filter=${encodeURIComponent('members eq "x"')}`)).body).toMatchObject({
      scimType: 'invalidFilter',
    });
  });

  it('keeps a group the sign-in policy in force names', async () => {
    const id = (await scim('POST', '/Groups', { displayName: 'finance' })).body.id as string;
    await setPolicy(
      poort,
      'rules:\n  - { id: finance-mfa, when: { groups: [finance] }, then: { mfa: { strength: any } } }\n',
    );
    const refused = await scim('DELETE', `/Groups/${id}`);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ scimType: 'mutability' });
    expect(String(refused.body.detail)).toContain('rule finance-mfa');
    expect((await scim('GET', `/Groups/${id}`)).status).toBe(200);
  });

  it('removes a group, and with it the memberships', async () => {
    const id = (await scim('POST', '/Groups', { displayName: 'leaving', members: [{ value: ids.bart }] }))
      .body.id as string;
    const seq = await lastSeq(poort);
    expect((await scim('DELETE', `/Groups/${id}`)).status).toBe(204);
    expect((await scim('GET', `/Groups/${id}`)).status).toBe(404);
    expect(await poort.services.users.groupsOf(ids.bart!)).not.toContain('leaving');
    expect(only(await eventsSince(poort, seq), 'group.changed')[0]).toMatchObject({
      details: { group: 'leaving', change: 'removed', members: ['bart'], via: 'scim' },
    });
  });
});
