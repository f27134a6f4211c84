import type { UserRecord } from '../directory/users.js';
import { ScimError } from './errors.js';
import { isObject, patchOperations } from './patch-op.js';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

/** What a provisioning system decides of a Poort user. */
export interface ScimUser {
  userName: string;
  externalId: string | null;
  email: string;
  /** the full name: name.formatted, else displayName */
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  active: boolean;
}

/**
 * Attributes of the core and enterprise User schemas that Poort does not keep (phone numbers, title, manager, …):
 * accepted and left out, as a directory does with what it has no place for; anything else is an error.
 */
const NOT_KEPT = new Set([
  'nickname',
  'profileurl',
  'title',
  'usertype',
  'preferredlanguage',
  'locale',
  'timezone',
  'password',
  'phonenumbers',
  'ims',
  'photos',
  'addresses',
  'entitlements',
  'roles',
  'x509certificates',
  'name.middlename',
  'name.honorificprefix',
  'name.honorificsuffix',
]);

/** The user as a SCIM User resource. */
export function toResource(user: UserRecord, externalId: string | null, base: string) {
  return {
    schemas: [USER_SCHEMA],
    id: user.id,
    ...(externalId !== null ? { externalId } : {}),
    userName: user.username,
    name: {
      ...(user.name ? { formatted: user.name } : {}),
      ...(user.givenName ? { givenName: user.givenName } : {}),
      ...(user.familyName ? { familyName: user.familyName } : {}),
    },
    ...(user.name ? { displayName: user.name } : {}),
    emails: [{ value: user.email, type: 'work', primary: true }],
    active: user.enabled,
    groups: user.groups.map((display) => ({ display })),
    meta: {
      resourceType: 'User',
      created: user.createdAt,
      lastModified: user.updatedAt,
      location: `${base}/Users/${user.id}`,
    },
  };
}

export function currentOf(user: UserRecord, externalId: string | null): ScimUser {
  return {
    userName: user.username,
    externalId,
    email: user.email,
    name: user.name,
    givenName: user.givenName,
    familyName: user.familyName,
    active: user.enabled,
  };
}

function text(value: unknown, attribute: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') throw new ScimError(400, `${attribute} must be a string`, 'invalidValue');
  return value.trim() === '' ? null : value.trim();
}

/** Booleans as SCIM clients send them: true/false, or (Entra ID) the strings "True" and "False". */
function bool(value: unknown, attribute: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  throw new ScimError(400, `${attribute} must be true or false`, 'invalidValue');
}

/** The address of `emails`: the primary one, else the work one, else the first. */
function emailOf(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (!Array.isArray(value) || !value.every(isObject))
    throw new ScimError(400, 'emails must be a list of objects', 'invalidValue');
  const chosen =
    value.find((e) => e.primary === true || e.primary === 'True' || e.primary === 'true') ??
    value.find((e) => e.type === 'work') ??
    value[0];
  return chosen ? text(chosen.value, 'emails.value') : null;
}

/** Sets one attribute (a lower-cased SCIM path) of `user` to `value`; `undefined` value: remove it. */
function assign(user: ScimUser, path: string, value: unknown): void {
  const remove = value === undefined;
  const required = (what: string) => {
    if (remove) throw new ScimError(400, `${what} cannot be removed`, 'mutability');
  };
  switch (path) {
    case 'username': {
      required('userName');
      const v = text(value, 'userName');
      if (!v) throw new ScimError(400, 'userName must not be empty', 'invalidValue');
      user.userName = v;
      return;
    }
    case 'externalid':
      user.externalId = remove ? null : text(value, 'externalId');
      return;
    case 'active':
      required('active');
      user.active = bool(value, 'active');
      return;
    case 'displayname':
    case 'name.formatted':
      user.name = remove ? null : text(value, path === 'displayname' ? 'displayName' : 'name.formatted');
      return;
    case 'name.givenname':
      user.givenName = remove ? null : text(value, 'name.givenName');
      return;
    case 'name.familyname':
      user.familyName = remove ? null : text(value, 'name.familyName');
      return;
    case 'name':
      if (remove) {
        user.name = user.givenName = user.familyName = null;
        return;
      }
      if (!isObject(value)) throw new ScimError(400, 'name must be an object', 'invalidValue');
      for (const [key, v] of Object.entries(value)) assign(user, `name.${key.toLowerCase()}`, v);
      return;
    case 'emails':
    case 'emails.value':
    case 'emails[type eq "work"].value':
    case 'emails[primary eq true].value': {
      required('emails');
      const v = path === 'emails' ? emailOf(value) : text(value, 'emails.value');
      if (!v) throw new ScimError(400, 'an e-mail address is required', 'invalidValue');
      user.email = v;
      return;
    }
    default:
      if (
        NOT_KEPT.has(path) ||
        path.startsWith(ENTERPRISE_SCHEMA.toLowerCase()) ||
        path === 'schemas' ||
        path === 'id' ||
        path === 'meta' ||
        path === 'groups'
      )
        return;
      throw new ScimError(400, `unknown attribute ${path}`, 'invalidPath');
  }
}

/** A User resource as sent to create or replace a user (POST, PUT). */
export function fromResource(body: unknown): ScimUser {
  if (!isObject(body)) throw new ScimError(400, 'the body must be a JSON object', 'invalidSyntax');
  const user: ScimUser = {
    userName: '',
    externalId: null,
    email: '',
    name: null,
    givenName: null,
    familyName: null,
    active: true,
  };
  for (const [key, value] of Object.entries(body)) {
    const path = key.toLowerCase();
    if (path === 'displayname' && isObject(body.name) && typeof body.name.formatted === 'string') continue;
    if (value === null) continue;
    assign(user, path, value);
  }
  if (!user.userName) throw new ScimError(400, 'userName is required', 'invalidValue');
  if (!user.email) {
    if (/^[^\s@]+@[^\s@]+$/.test(user.userName)) user.email = user.userName;
    else throw new ScimError(400, 'an e-mail address is required (emails)', 'invalidValue');
  }
  if (!user.name && (user.givenName || user.familyName))
    user.name = [user.givenName, user.familyName].filter(Boolean).join(' ');
  return user;
}

/** A PatchOp request (RFC 7644 §3.5.2) applied to the user's current state; returns the new state. */
export function applyPatch(current: ScimUser, body: unknown): ScimUser {
  const user = { ...current };
  for (const operation of patchOperations(body)) {
    const { op } = operation;
    const path = operation.path?.toLowerCase().replace(/^urn:ietf:params:scim:schemas:core:2\.0:user:/, '');
    if (op === 'remove') {
      if (!path) throw new ScimError(400, 'remove needs a path', 'noTarget');
      assign(user, path, undefined);
    } else if (path) {
      assign(user, path, operation.value);
    } else {
      if (!isObject(operation.value))
        throw new ScimError(400, `${op} without a path needs an object value`, 'invalidValue');
      for (const [key, value] of Object.entries(operation.value)) assign(user, key.toLowerCase(), value);
    }
  }
  return user;
}
