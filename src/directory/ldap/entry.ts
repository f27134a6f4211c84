import { escapeFilter } from 'ldapts';
import { isValidUsername, normaliseUsername, type FailureReason } from '../identity.js';
import type { LdapSettings } from './settings.js';

/** An attribute's values as ldapts hands them over. */
type Values = Buffer | Buffer[] | string[] | string | undefined;

/** An entry as a search returns it: its DN and the attributes asked for. */
export type RawEntry = { dn: string } & Record<string, Values>;

/** What Poort copies of a user's entry. */
export interface DirectoryProfile {
  /** the entry's stable id (entryUUID, objectGUID as a GUID string) */
  externalId: string;
  dn: string;
  /** the username as Poort keeps it (normalised) */
  username: string;
  /** the username as the directory spells it (what posixGroup's memberUid lists) */
  uid: string;
  email: string;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  /** DNs from the entry's memberOf, where groups come from there */
  memberOf: string[];
  /** Active Directory's userAccountControl says the account is disabled */
  disabled: boolean;
}

/** Why an entry cannot be a Poort user; the sign-in fails, and the log says which attribute to fix. */
export type ProfileProblem = { problem: 'no_id' | 'invalid_username' | 'invalid_email'; attribute: string };

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const ACCOUNT_DISABLED = 0x2;

/** The filter that finds the entry of a typed username; the name is escaped (RFC 4515), so it is only ever a value. */
export function userFilter(settings: LdapSettings, username: string): string {
  return `(&${settings.users.filter}(${settings.users.usernameAttribute}=${escapeFilter`${username}`}))`;
}

/** The filter for the groups that list any of `members` (DNs or usernames) in their member attribute. */
export function groupFilter(settings: LdapSettings, members: string[]): string {
  const attribute = settings.groups.memberAttribute;
  const each = members.map((m) => `(${attribute}=${escapeFilter`${m}`})`);
  return `(&${settings.groups.filter}${each.length === 1 ? each[0]! : `(|${each.join('')})`})`;
}

/** The attributes a user search asks for; binary ones are named apart, so that ldapts leaves them as bytes. */
export function userAttributes(settings: LdapSettings): { attributes: string[]; binary: string[] } {
  const u = settings.users;
  const attributes = [
    u.usernameAttribute,
    u.idAttribute,
    u.emailAttribute,
    u.nameAttribute,
    u.givenNameAttribute,
    u.familyNameAttribute,
  ];
  if (settings.groups.membership === 'member_of') attributes.push('memberOf');
  if (settings.type === 'active_directory') attributes.push('userAccountControl');
  return {
    attributes: [...new Set(attributes)],
    binary: u.idAttribute === 'objectGUID' ? ['objectGUID'] : [],
  };
}

function values(entry: RawEntry, attribute: string): (string | Buffer)[] {
  // attribute names compare without regard to case; servers answer in their own spelling
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  const value = key === undefined ? undefined : entry[key];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export function stringValues(entry: RawEntry, attribute: string): string[] {
  return values(entry, attribute).map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
}

function first(entry: RawEntry, attribute: string): string | null {
  const value = values(entry, attribute)[0];
  if (value === undefined) return null;
  const text = (typeof value === 'string' ? value : value.toString('utf8')).trim();
  return text === '' ? null : text;
}

/** objectGUID's 16 bytes as Windows writes the GUID: the first three fields little-endian. */
export function guidString(bytes: Buffer): string {
  const hex = (from: number, to: number, reverse: boolean) => {
    const part = [...bytes.subarray(from, to)];
    return (reverse ? part.reverse() : part).map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  return [hex(0, 4, true), hex(4, 6, true), hex(6, 8, true), hex(8, 10, false), hex(10, 16, false)].join('-');
}

function externalId(entry: RawEntry, attribute: string): string | null {
  const value = values(entry, attribute)[0];
  if (value === undefined) return null;
  if (Buffer.isBuffer(value)) return value.length === 16 ? guidString(value) : value.toString('hex');
  return value.trim().toLowerCase() || null;
}

export function profileOf(entry: RawEntry, settings: LdapSettings): DirectoryProfile | ProfileProblem {
  const u = settings.users;
  const id = externalId(entry, u.idAttribute);
  if (!id) return { problem: 'no_id', attribute: u.idAttribute };
  const uid = first(entry, u.usernameAttribute) ?? '';
  const username = normaliseUsername(uid);
  if (!isValidUsername(username)) return { problem: 'invalid_username', attribute: u.usernameAttribute };
  const email = first(entry, u.emailAttribute);
  if (!email || !EMAIL.test(email) || email.length > 254)
    return { problem: 'invalid_email', attribute: u.emailAttribute };
  const control = Number(first(entry, 'userAccountControl') ?? 0);
  return {
    externalId: id,
    dn: entry.dn,
    username,
    uid,
    email,
    name: first(entry, u.nameAttribute),
    givenName: first(entry, u.givenNameAttribute),
    familyName: first(entry, u.familyNameAttribute),
    memberOf: stringValues(entry, 'memberOf'),
    disabled: settings.type === 'active_directory' && (control & ACCOUNT_DISABLED) !== 0,
  };
}

export function isProblem(p: DirectoryProfile | ProfileProblem): p is ProfileProblem {
  return 'problem' in p;
}

/**
 * The value of a DN's first RDN: `Staff` of `cn=Staff,ou=groups,dc=example,dc=org`, with its escapes undone
 * (RFC 4514: `\,` and `\2C` alike). A multi-valued RDN gives its first value.
 */
export function firstRdnValue(dn: string): string | null {
  // bytes, since hex escapes are UTF-8 bytes and may split a character
  const bytes: number[] = [];
  const add = (c: string) => bytes.push(...Buffer.from(c, 'utf8'));
  let inValue = false;
  const chars = Array.from(dn);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\') {
      const hex = chars.slice(i + 1, i + 3).join('');
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        if (inValue) bytes.push(parseInt(hex, 16));
        i += 2;
      } else {
        if (inValue && i + 1 < chars.length) add(chars[i + 1]!);
        i += 1;
      }
      continue;
    }
    if (c === ',' || c === '+' || c === ';') break;
    if (!inValue) {
      if (c === '=') inValue = true;
      continue;
    }
    add(c);
  }
  const name = Buffer.from(bytes).toString('utf8').trim();
  return inValue && name !== '' ? name : null;
}

/** Whether `dn` lies under `base` (itself included), comparing without regard to case and spaces after commas. */
export function isUnder(dn: string, base: string): boolean {
  const d = dnKey(dn);
  const b = dnKey(base);
  return d === b || d.endsWith(`,${b}`);
}

/** A DN for comparing: DNs compare without regard to case and spaces after commas. */
export function dnKey(dn: string): string {
  return dn
    .replace(/\s*,\s*/g, ',')
    .trim()
    .toLowerCase();
}

/**
 * Why Active Directory refused a user's bind, from the `data` code in its diagnostic message (`... data 533, ...`).
 * Other servers, and a plain wrong password (52e), give `wrong_password`.
 */
export function bindFailure(message: string): FailureReason {
  const code = /\bdata ([0-9a-f]{3,4})\b/i.exec(message)?.[1]?.toLowerCase();
  switch (code) {
    case '533': // account disabled
    case '701': // account expired
      return 'disabled';
    case '775':
      return 'locked';
    case '532': // password expired
    case '773': // the user must change the password
      return 'password_expired';
    default:
      return 'wrong_password';
  }
}
