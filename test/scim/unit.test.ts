import { describe, expect, it } from 'vitest';
import { ScimError } from '../../src/scim/errors.js';
import { parseFilter } from '../../src/scim/filter.js';
import { project, projectionOf, shows } from '../../src/scim/projection.js';
import { applyGroupPatch, fromGroupResource } from '../../src/scim/group-resource.js';
import { applyPatch, fromResource, type ScimUser } from '../../src/scim/user-resource.js';

const anna: ScimUser = {
  userName: 'anna',
  externalId: 'E1',
  email: 'anna@school.example',
  name: 'Anna de Vries',
  givenName: 'Anna',
  familyName: 'de Vries',
  active: true,
};

function scimType(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof ScimError) return err.scimType ?? String(err.status);
    throw err;
  }
  return undefined;
}

describe('SCIM filters', () => {
  it('reads the equality filters provisioning clients send, with escapes', () => {
    expect(parseFilter('userName eq "anna"')).toEqual({ attribute: 'username', value: 'anna' });
    expect(parseFilter('USERNAME EQ "a\\"b"')).toEqual({ attribute: 'username', value: 'a"b' });
    expect(parseFilter('externalId eq "1043"')).toEqual({ attribute: 'externalid', value: '1043' });
    expect(parseFilter('emails[value eq "a@b.nl"]')).toEqual({ attribute: 'emails.value', value: 'a@b.nl' });
    expect(parseFilter('emails.value eq "a@b.nl"')).toEqual({ attribute: 'emails.value', value: 'a@b.nl' });
  });

  it('refuses what it cannot answer exactly', () => {
    for (const filter of [
      'userName sw "a"',
      'userName eq "a" and active eq true',
      'title eq "x"',
      'userName eq anna',
      'userName eq "\\x"',
      '',
    ])
      expect(scimType(() => parseFilter(filter))).toBe('invalidFilter');
  });
});

describe('SCIM User resources', () => {
  it('takes what Poort keeps and leaves the rest of the schema out', () => {
    expect(
      fromResource({
        userName: 'anna',
        name: { givenName: 'Anna', familyName: 'de Vries' },
        emails: [
          { value: 'home@example.org', type: 'home' },
          { value: 'anna@school.example', type: 'work' },
        ],
        phoneNumbers: [{ value: '+31' }],
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { manager: { value: 'x' } },
      }),
    ).toEqual({ ...anna, externalId: null });
    expect(fromResource({ userName: 'b@school.example', active: 'False' })).toMatchObject({
      email: 'b@school.example',
      active: false,
    });
  });

  it('applies Entra ID and Okta patches, paths in any case, with and without a path', () => {
    const patched = applyPatch(anna, {
      Operations: [
        { op: 'Replace', path: 'active', value: 'False' },
        { op: 'Add', path: 'name.givenName', value: 'Annie' },
        { op: 'remove', path: 'externalId' },
        { op: 'replace', value: { displayName: 'Annie de Vries', 'name.familyName': 'Vries' } },
        { op: 'replace', path: 'emails[primary eq true].value', value: 'annie@school.example' },
      ],
    });
    expect(patched).toEqual({
      userName: 'anna',
      externalId: null,
      email: 'annie@school.example',
      name: 'Annie de Vries',
      givenName: 'Annie',
      familyName: 'Vries',
      active: false,
    });
    expect(anna.active).toBe(true);
  });

  it('names what is wrong', () => {
    expect(scimType(() => fromResource([]))).toBe('invalidSyntax');
    expect(scimType(() => fromResource({ emails: [{ value: 'a@b.nl' }] }))).toBe('invalidValue');
    expect(scimType(() => fromResource({ userName: 'a', emails: 'a@b.nl' }))).toBe('invalidValue');
    expect(scimType(() => applyPatch(anna, { Operations: [{ op: 'remove', path: 'emails' }] }))).toBe(
      'mutability',
    );
    expect(scimType(() => applyPatch(anna, { Operations: [{ op: 'remove' }] }))).toBe('noTarget');
    expect(
      scimType(() => applyPatch(anna, { Operations: [{ op: 'replace', path: 'nope', value: 1 }] })),
    ).toBe('invalidPath');
    expect(scimType(() => applyPatch(anna, { Operations: [{ op: 'replace', value: 'x' }] }))).toBe(
      'invalidValue',
    );
    expect(
      scimType(() => applyPatch(anna, { Operations: [{ op: 'replace', path: 'userName', value: 7 }] })),
    ).toBe('invalidValue');
  });
});

describe('SCIM Group patches', () => {
  const team = { displayName: 'teachers', members: new Set(['a', 'b']) };

  it('adds, removes and replaces members in the forms clients send', () => {
    const patched = applyGroupPatch(team, {
      Operations: [
        { op: 'Add', path: 'members', value: [{ value: 'c' }] },
        { op: 'remove', path: 'members[value eq "a"]' },
        { op: 'Remove', path: 'members', value: [{ value: 'b' }] },
      ],
    });
    expect([...patched.members]).toEqual(['c']);
    expect([...team.members]).toEqual(['a', 'b']);
    expect([
      ...applyGroupPatch(team, {
        Operations: [{ op: 'replace', value: { id: 'x', members: [{ value: 'd' }] } }],
      }).members,
    ]).toEqual(['d']);
    expect([...applyGroupPatch(team, { Operations: [{ op: 'remove', path: 'members' }] }).members]).toEqual(
      [],
    );
  });

  it('names what it cannot do', () => {
    expect(
      scimType(() => applyGroupPatch(team, { Operations: [{ op: 'add', path: 'members', value: 'a' }] })),
    ).toBe('invalidValue');
    expect(
      scimType(() => applyGroupPatch(team, { Operations: [{ op: 'add', path: 'owners', value: [] }] })),
    ).toBe('invalidPath');
    expect(
      scimType(() => applyGroupPatch(team, { Operations: [{ op: 'remove', path: 'displayName' }] })),
    ).toBe('mutability');
    expect(scimType(() => fromGroupResource({ members: [] }))).toBe('invalidValue');
  });
});

describe('SCIM attributes and excludedAttributes', () => {
  const user = {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    id: 'u1',
    userName: 'anna',
    name: { givenName: 'Anna', familyName: 'de Vries' },
    emails: [{ value: 'anna@school.example', primary: true }],
    active: true,
    meta: { resourceType: 'User' },
  };
  const shown = (query: Record<string, string | string[]>) => project(user, projectionOf(query));

  it('returns what is asked for, with id and schemas, and sub-attributes of complex and multi-valued ones', () => {
    expect(shown({ attributes: 'userName' })).toEqual({ schemas: user.schemas, id: 'u1', userName: 'anna' });
    expect(shown({ attributes: 'UserName, name.givenName,emails.value' })).toEqual({
      schemas: user.schemas,
      id: 'u1',
      userName: 'anna',
      name: { givenName: 'Anna' },
      emails: [{ value: 'anna@school.example' }],
    });
    expect(shown({ attributes: 'urn:ietf:params:scim:schemas:core:2.0:User:active' })).toEqual({
      schemas: user.schemas,
      id: 'u1',
      active: true,
    });
    expect(shown({ attributes: ['userName', 'active'] })).toMatchObject({ userName: 'anna', active: true });
  });

  it('leaves out what is excluded, never id or schemas, and passes over names it does not know', () => {
    expect(Object.keys(shown({ excludedAttributes: 'emails,meta,id,schemas,nonsense' }))).toEqual([
      'schemas',
      'id',
      'userName',
      'name',
      'active',
    ]);
    expect(shown({ excludedAttributes: 'name.familyName' }).name).toEqual({ givenName: 'Anna' });
    expect(shown({})).toBe(user);
    expect(shown({ attributes: '' })).toBe(user);
  });

  it('says whether an attribute is shown at all, so that what is not shown need not be read', () => {
    const of = (query: Record<string, string>) => (name: string) => shows(projectionOf(query), name);
    expect(of({})('members')).toBe(true);
    expect(of({ excludedAttributes: 'members' })('members')).toBe(false);
    expect(of({ excludedAttributes: 'members.display' })('members')).toBe(true);
    expect(of({ attributes: 'displayName' })('members')).toBe(false);
    expect(of({ attributes: 'members.value' })('members')).toBe(true);
    expect(of({ attributes: 'urn:ietf:params:scim:schemas:core:2.0:Group:members' })('members')).toBe(true);
    expect(of({ excludedAttributes: 'id' })('id')).toBe(true);
  });
});
