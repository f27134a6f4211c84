import fs from 'node:fs';
import net from 'node:net';
import type tls from 'node:tls';
import {
  Client,
  InvalidCredentialsError,
  NoSuchObjectError,
  ResultCodeError,
  SizeLimitExceededError,
} from 'ldapts';
import type { Logger } from '../../log/logger.js';
import type { FailureReason } from '../identity.js';
import {
  bindFailure,
  dnKey,
  firstRdnValue,
  groupFilter,
  isProblem,
  isUnder,
  profileOf,
  stringValues,
  userAttributes,
  userFilter,
  type DirectoryProfile,
  type ProfileProblem,
  type RawEntry,
} from './entry.js';
import { groupNames, MAX_NESTING, withParentGroups, type GroupRef } from './nesting.js';
import type { LdapSettings } from './settings.js';

/** The directory could not be asked: no server answered, or one refused the service account or the search. */
export class DirectoryUnavailableError extends Error {
  override readonly name = 'DirectoryUnavailableError';
}

/** What the directory says of a typed username and password. */
export type PasswordCheck =
  | { kind: 'unknown' }
  /** the name matches several entries: none is signed in */
  | { kind: 'ambiguous' }
  | { kind: 'unusable'; dn: string; problem: ProfileProblem }
  | { kind: 'failed'; reason: FailureReason; profile: DirectoryProfile }
  | { kind: 'ok'; profile: DirectoryProfile; groups: string[] };

/** A DN that names no entry: binding to it costs what a wrong password costs, so an unknown name takes as long. */
const NOBODY = 'cn=poort-no-such-entry';
/** Members named in one group search (an OR of this many equality filters). */
const MEMBERS_PER_SEARCH = 100;
/** Group entries read at once, on one connection, when following memberOf upwards. */
const READS_AT_ONCE = 16;

function tlsOptions(settings: LdapSettings, url: string): tls.ConnectionOptions {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return {
    ...(settings.caFile ? { ca: fs.readFileSync(settings.caFile) } : {}),
    // the name the certificate must carry; SNI takes no IP address
    host,
    ...(net.isIP(host) ? {} : { servername: host }),
    minVersion: 'TLSv1.2',
  };
}

/**
 * The LDAP protocol, behind four questions. Each question opens a connection, binds the service account (or stays
 * anonymous), asks, and closes; servers are tried in order until one answers.
 */
export class LdapGateway {
  constructor(
    private readonly settings: LdapSettings,
    private readonly log?: Logger,
  ) {}

  /** Finds the entry of `username` and binds as it with `password`: the directory checks the password. */
  async checkPassword(username: string, password: string): Promise<PasswordCheck> {
    // An empty password would be an unauthenticated bind, which servers accept: never send one.
    if (username === '' || password === '') return { kind: 'unknown' };
    const s = this.settings;
    return this.session(async (client) => {
      let entries: RawEntry[];
      try {
        entries = await this.findUsers(client, userFilter(s, username), 2);
      } catch (err) {
        if (!(err instanceof SizeLimitExceededError)) throw err;
        await this.bindNobody(client, password);
        return { kind: 'ambiguous' };
      }
      const entry = entries[0];
      if (!entry || entries.length > 1) {
        await this.bindNobody(client, password);
        return { kind: entries.length > 1 ? 'ambiguous' : 'unknown' };
      }
      const profile = profileOf(entry, s);
      if (isProblem(profile)) {
        await this.bindNobody(client, password);
        return { kind: 'unusable', dn: entry.dn, problem: profile };
      }
      try {
        await client.bind(entry.dn, password);
      } catch (err) {
        if (err instanceof InvalidCredentialsError) {
          return { kind: 'failed', reason: bindFailure(err.message), profile };
        }
        throw err;
      }
      if (profile.disabled) return { kind: 'failed', reason: 'disabled', profile };
      // back to the service account (the user may not read groups)
      await this.bindService(client);
      return { kind: 'ok', profile, groups: await this.groupsOf(client, profile) };
    });
  }

  /** Every user entry the filter admits, for the sync; unusable ones are counted, not returned. */
  async allUsers(): Promise<{
    profiles: DirectoryProfile[];
    unusable: { dn: string; problem: ProfileProblem }[];
  }> {
    return this.session(async (client) => {
      const entries = await this.findUsers(client, this.settings.users.filter, 0, true);
      const profiles: DirectoryProfile[] = [];
      const unusable: { dn: string; problem: ProfileProblem }[] = [];
      for (const entry of entries) {
        const profile = profileOf(entry, this.settings);
        if (isProblem(profile)) unusable.push({ dn: entry.dn, problem: profile });
        else profiles.push(profile);
      }
      return { profiles, unusable };
    });
  }

  /** The group names of each of `profiles`, in one session (the sync's). */
  async groupsOfAll(profiles: DirectoryProfile[]): Promise<Map<string, string[]>> {
    const g = this.settings.groups;
    if (g.membership === 'none') return new Map(profiles.map((p) => [p.externalId, []]));
    return this.session(async (client) => {
      let ownGroups: (p: DirectoryProfile) => GroupRef[];
      let parentsOf: (groups: GroupRef[]) => Promise<GroupRef[]>;
      if (g.membership === 'search') {
        // every group once, with its members: the nesting is followed here, not by a search per level and user
        const { searchEntries } = await client.search(g.baseDn!, {
          scope: 'sub',
          filter: g.filter,
          attributes: [g.nameAttribute, g.memberAttribute],
          paged: { pageSize: 500 },
        });
        const key = (value: string) => (g.memberValue === 'dn' ? dnKey(value) : value);
        const byMember = new Map<string, GroupRef[]>();
        for (const entry of searchEntries as RawEntry[]) {
          const group = { dn: entry.dn, name: this.groupName(entry) };
          for (const member of stringValues(entry, g.memberAttribute)) {
            byMember.set(key(member), [...(byMember.get(key(member)) ?? []), group]);
          }
        }
        ownGroups = (p) => byMember.get(key(g.memberValue === 'dn' ? p.dn : p.uid)) ?? [];
        parentsOf = async (level) => level.flatMap((group) => byMember.get(dnKey(group.dn)) ?? []);
      } else {
        ownGroups = (p) => memberOfRefs(p.memberOf);
        // each group's memberOf is read once for all users
        const read = new Map<string, Promise<GroupRef[]>>();
        parentsOf = async (level) => {
          const missing = level.filter((group) => !read.has(dnKey(group.dn)));
          const fetched = this.memberOfOf(client, missing);
          missing.forEach((group, i) =>
            read.set(
              dnKey(group.dn),
              fetched.then((all) => all[i]!),
            ),
          );
          return (await Promise.all(level.map((group) => read.get(dnKey(group.dn))!))).flat();
        };
      }
      const result = new Map<string, string[]>();
      for (const p of profiles) result.set(p.externalId, await this.counted(p, ownGroups(p), parentsOf));
      return result;
    });
  }

  /** Connects and binds the service account: `poort ldap check` and readiness. Returns the server that answered. */
  async check(): Promise<string> {
    return this.session(async (_client, url) => url);
  }

  private async findUsers(
    client: Client,
    filter: string,
    sizeLimit: number,
    paged = false,
  ): Promise<RawEntry[]> {
    const { attributes, binary } = userAttributes(this.settings);
    const { searchEntries } = await client.search(this.settings.users.baseDn, {
      scope: 'sub',
      filter,
      attributes,
      explicitBufferAttributes: binary,
      sizeLimit,
      ...(paged ? { paged: { pageSize: 500 } } : {}),
    });
    return searchEntries as RawEntry[];
  }

  private async groupsOf(client: Client, profile: DirectoryProfile): Promise<string[]> {
    const g = this.settings.groups;
    if (g.membership === 'none') return [];
    if (g.membership === 'member_of') {
      return this.counted(profile, memberOfRefs(profile.memberOf), async (level) =>
        (await this.memberOfOf(client, level)).flat(),
      );
    }
    const own = await this.groupsListing(client, [g.memberValue === 'dn' ? profile.dn : profile.uid]);
    return this.counted(profile, own, (level) =>
      this.groupsListing(
        client,
        level.map((group) => group.dn),
      ),
    );
  }

  /**
   * The names of the groups of a user that count: their own groups, and those they are in through others where
   * `groups.nested` says so. With member_of only groups under `groups.base_dn` (when given) count, though the
   * nesting is followed through groups elsewhere too.
   */
  private async counted(
    profile: DirectoryProfile,
    own: GroupRef[],
    parentsOf: (groups: GroupRef[]) => Promise<GroupRef[]>,
  ): Promise<string[]> {
    const g = this.settings.groups;
    let groups = own;
    if (g.nested) {
      const nested = await withParentGroups(own, parentsOf);
      if (nested.truncated) {
        this.log?.warn(
          { dn: profile.dn, max_levels: MAX_NESTING },
          'LDAP groups are nested deeper than Poort follows: the groups above that level were not counted',
        );
      }
      groups = nested.groups;
    }
    const base = g.baseDn;
    return groupNames(
      base && g.membership === 'member_of' ? groups.filter((r) => isUnder(r.dn, base)) : groups,
    );
  }

  /** The groups under `groups.base_dn` that list any of `members` (DNs or usernames) as a member. */
  private async groupsListing(client: Client, members: string[]): Promise<GroupRef[]> {
    const g = this.settings.groups;
    const found: GroupRef[] = [];
    for (let i = 0; i < members.length; i += MEMBERS_PER_SEARCH) {
      const { searchEntries } = await client.search(g.baseDn!, {
        scope: 'sub',
        filter: groupFilter(this.settings, members.slice(i, i + MEMBERS_PER_SEARCH)),
        attributes: [g.nameAttribute],
      });
      for (const entry of searchEntries as RawEntry[])
        found.push({ dn: entry.dn, name: this.groupName(entry) });
    }
    return found;
  }

  /**
   * The memberOf of each of `groups`, read from the group's own entry: the groups it is in. A group that is gone, or
   * that the service account may not see, is in none.
   */
  private async memberOfOf(client: Client, groups: GroupRef[]): Promise<GroupRef[][]> {
    const all: GroupRef[][] = [];
    for (let i = 0; i < groups.length; i += READS_AT_ONCE) {
      const part = await Promise.all(
        groups.slice(i, i + READS_AT_ONCE).map(async (group) => {
          try {
            const { searchEntries } = await client.search(group.dn, {
              scope: 'base',
              filter: '(objectClass=*)',
              attributes: ['memberOf'],
            });
            const entry = searchEntries[0] as RawEntry | undefined;
            return entry ? memberOfRefs(stringValues(entry, 'memberOf')) : [];
          } catch (err) {
            if (err instanceof NoSuchObjectError) return [];
            throw err;
          }
        }),
      );
      all.push(...part);
    }
    return all;
  }

  private groupName(group: RawEntry): string | null {
    return stringValues(group, this.settings.groups.nameAttribute)[0]?.trim() || firstRdnValue(group.dn);
  }

  private async bindNobody(client: Client, password: string): Promise<void> {
    await client.bind(`${NOBODY},${this.settings.users.baseDn}`, password).catch(() => undefined);
  }

  private async bindService(client: Client): Promise<void> {
    const s = this.settings;
    try {
      // an empty DN and password: back to anonymous
      await client.bind(s.bindDn ?? '', s.bindPassword ?? '');
    } catch (err) {
      if (err instanceof InvalidCredentialsError) {
        throw new DirectoryUnavailableError(
          `the LDAP server refused the service account ${s.bindDn ?? '(anonymous)'}`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
  }

  /**
   * Runs `fn` on a fresh, bound connection. A server that cannot be reached is skipped for the next; anything
   * else the directory refuses (a wrong base DN, a refused service account) makes the directory unavailable.
   */
  private async session<T>(fn: (client: Client, url: string) => Promise<T>): Promise<T> {
    const s = this.settings;
    let lastError: unknown;
    for (const url of s.urls) {
      const tlsOpts = tlsOptions(s, url);
      const client = new Client({
        url,
        timeout: s.timeoutMs,
        connectTimeout: s.timeoutMs,
        ...(url.toLowerCase().startsWith('ldaps:') ? { tlsOptions: tlsOpts } : {}),
      });
      try {
        if (s.startTls) await client.startTLS(tlsOpts);
        if (s.bindDn) await this.bindService(client);
        return await fn(client, url);
      } catch (err) {
        if (err instanceof DirectoryUnavailableError) throw err;
        if (err instanceof ResultCodeError) {
          throw new DirectoryUnavailableError(`the LDAP server at ${url} refused: ${err.message}`, {
            cause: err,
          });
        }
        lastError = err;
      } finally {
        await client.unbind().catch(() => undefined);
      }
    }
    const reason = lastError instanceof Error ? lastError.message : String(lastError);
    throw new DirectoryUnavailableError(`no LDAP server answered (${s.urls.join(', ')}): ${reason}`, {
      cause: lastError,
    });
  }
}

/** Groups named by DN in a memberOf attribute, each named by the first value of its DN. */
function memberOfRefs(dns: string[]): GroupRef[] {
  return dns.map((dn) => ({ dn, name: firstRdnValue(dn) }));
}
