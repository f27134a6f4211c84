import fs from 'node:fs';
import net from 'node:net';
import type tls from 'node:tls';
import { Client, InvalidCredentialsError, ResultCodeError, SizeLimitExceededError } from 'ldapts';
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
  constructor(private readonly settings: LdapSettings) {}

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
    if (g.membership !== 'search') return new Map(profiles.map((p) => [p.externalId, this.memberOfNames(p)]));
    return this.session(async (client) => {
      const { searchEntries } = await client.search(g.baseDn!, {
        scope: 'sub',
        filter: g.filter,
        attributes: [g.nameAttribute, g.memberAttribute],
        paged: { pageSize: 500 },
      });
      const key = (value: string) => (g.memberValue === 'dn' ? dnKey(value) : value);
      const byMember = new Map<string, string[]>();
      for (const group of searchEntries as RawEntry[]) {
        const name = this.groupName(group);
        if (!name) continue;
        for (const member of stringValues(group, g.memberAttribute)) {
          byMember.set(key(member), [...(byMember.get(key(member)) ?? []), name]);
        }
      }
      return new Map(
        profiles.map((p) => [
          p.externalId,
          [...new Set(byMember.get(key(g.memberValue === 'dn' ? p.dn : p.uid)) ?? [])].sort(),
        ]),
      );
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
    if (g.membership !== 'search') return this.memberOfNames(profile);
    const { searchEntries } = await client.search(g.baseDn!, {
      scope: 'sub',
      filter: groupFilter(this.settings, g.memberValue === 'dn' ? profile.dn : profile.uid),
      attributes: [g.nameAttribute],
    });
    const names = (searchEntries as RawEntry[]).map((e) => this.groupName(e));
    return [...new Set(names.filter((n): n is string => n !== null))].sort();
  }

  private memberOfNames(profile: DirectoryProfile): string[] {
    const base = this.settings.groups.baseDn;
    const names = profile.memberOf.filter((dn) => !base || isUnder(dn, base)).map(firstRdnValue);
    return [...new Set(names.filter((n): n is string => n !== null))].sort();
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
