import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Attribute, Change, Client } from 'ldapts';
import os from 'node:os';
import { freePort } from './free-port.js';

export const SLAPD = '/usr/sbin/slapd';
export const BASE_DN = 'dc=poort,dc=test';
export const PEOPLE = `ou=people,${BASE_DN}`;
export const GROUPS = `ou=groups,${BASE_DN}`;
export const SERVICE_DN = `cn=poort,ou=services,${BASE_DN}`;
export const SERVICE_PASSWORD = 'service-account-secret';
const ADMIN_DN = `cn=admin,${BASE_DN}`;
const ADMIN_PASSWORD = 'admin-secret';

/**
 * A real OpenLDAP slapd on a free loopback port, with its own database in a temporary folder: ou=people, ou=groups
 * and a service account (`SERVICE_DN`) that may read; anonymous clients may only bind. A small schema lets entries
 * look like Active Directory's (objectClass user, sAMAccountName, objectGUID, userAccountControl, memberOf).
 */
export interface Slapd {
  url: string;
  port: number;
  /** with `tls`: ldaps:// on a second port, and StartTLS on `url`; the certificate (PEM) names 127.0.0.1 */
  ldapsUrl?: string;
  certificate?: string;
  /** an OpenLDAP-style person (inetOrgPerson); returns its DN */
  addPerson(input: {
    uid: string;
    password: string;
    mail?: string;
    cn?: string;
    givenName?: string;
    sn?: string;
  }): Promise<string>;
  /** an Active Directory-style user (objectClass user); returns its DN and objectGUID */
  addAdUser(input: {
    sAMAccountName: string;
    password: string;
    mail: string;
    displayName?: string;
    disabled?: boolean;
    memberOf?: string[];
  }): Promise<{ dn: string; guid: Buffer }>;
  /** a groupOfNames with these member DNs */
  addGroup(cn: string, members: string[]): Promise<string>;
  /**
   * an Active Directory-style group (objectClass group) under `ou` (default groups), with the groups it is in as
   * its memberOf (AD keeps that back-link itself; here the test writes it); returns its DN
   */
  addAdGroup(cn: string, input?: { memberOf?: string[]; ou?: string }): Promise<string>;
  /** replaces an attribute's values of an entry (none: removes it) */
  replace(dn: string, attribute: string, values: string[]): Promise<void>;
  rename(dn: string, newRdn: string): Promise<string>;
  remove(dn: string): Promise<void>;
  /** the running slapd's process id */
  pid(): number | undefined;
  /** stops the server, keeping its data (an outage); `start` brings it back on the same port */
  pause(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * What Active Directory's users look like to an LDAP client, as far as Poort reads them (Microsoft's msuser.schema
 * has the names, but no matching rules: nobody could search by sAMAccountName). OIDs under a private test arc.
 */
const AD_SCHEMA = `
attributetype ( 1.3.6.1.4.1.99999.1.1 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.1.2 NAME 'userAccountControl' EQUALITY integerMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.1.3 NAME 'objectGUID' EQUALITY octetStringMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.1.4 NAME 'memberOf' EQUALITY distinguishedNameMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
objectclass ( 1.3.6.1.4.1.99999.2.1 NAME 'user' SUP inetOrgPerson STRUCTURAL
  MAY ( sAMAccountName $ userAccountControl $ objectGUID $ memberOf ) )
objectclass ( 1.3.6.1.4.1.99999.2.2 NAME 'group' SUP top STRUCTURAL
  MUST cn MAY ( member $ memberOf $ sAMAccountName ) )
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts it; with `tls` (a certificate for 127.0.0.1 and its key, PEM) also ldaps:// and StartTLS. Throws, saying how
 * to install it, where slapd is missing.
 */
export async function startSlapd(
  options: { tls?: { certificate: string; privateKey: string } } = {},
): Promise<Slapd> {
  if (!fs.existsSync(SLAPD)) {
    throw new Error(`${SLAPD} is missing: install OpenLDAP with \`apt-get install -y slapd ldap-utils\``);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'poort-slapd-'));
  fs.mkdirSync(path.join(dir, 'db'));
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = options.tls ? `ldaps://127.0.0.1:${await freePort()}` : undefined;
  const { tls } = options;
  if (tls) {
    fs.writeFileSync(path.join(dir, 'cert.pem'), tls.certificate);
    fs.writeFileSync(path.join(dir, 'key.pem'), tls.privateKey, { mode: 0o600 });
  }
  const conf = path.join(dir, 'slapd.conf');
  const adSchema = path.join(dir, 'ad.schema');
  fs.writeFileSync(adSchema, AD_SCHEMA);
  fs.writeFileSync(
    conf,
    [
      ...['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include /etc/ldap/schema/${s}.schema`),
      `include ${adSchema}`,
      `pidfile ${dir}/slapd.pid`,
      ...(tls ? [`TLSCertificateFile ${dir}/cert.pem`, `TLSCertificateKeyFile ${dir}/key.pem`] : []),
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'database mdb',
      `suffix "${BASE_DN}"`,
      `rootdn "${ADMIN_DN}"`,
      `rootpw ${ADMIN_PASSWORD}`,
      `directory ${dir}/db`,
      'access to attrs=userPassword by anonymous auth by * none',
      `access to * by dn.exact="${SERVICE_DN}" read by self read by * none`,
      '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  let output = '';
  const launch = async () => {
    output = '';
    const listen = ldapsUrl ? `${url} ${ldapsUrl}` : url;
    const proc = spawn(SLAPD, ['-d', '0', '-h', listen, '-f', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 10_000;
    while (!(await answers(port))) {
      if (proc.exitCode !== null) throw new Error(`slapd exited (${proc.exitCode}): ${output}`);
      if (Date.now() > deadline) throw new Error(`slapd did not answer on ${url} within 10 s: ${output}`);
      await sleep(20);
    }
  };
  const halt = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    if (!(await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]))) {
      proc.kill('SIGKILL');
      await exited;
    }
  };

  const admin = async <T>(fn: (client: Client) => Promise<T>): Promise<T> => {
    const client = new Client({ url, timeout: 5000 });
    try {
      await client.bind(ADMIN_DN, ADMIN_PASSWORD);
      return await fn(client);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  };

  await launch();
  try {
    await admin(async (c) => {
      await c.add(BASE_DN, { objectClass: ['dcObject', 'organization'], dc: 'poort', o: 'Poort test' });
      for (const ou of ['people', 'groups', 'services']) {
        await c.add(`ou=${ou},${BASE_DN}`, { objectClass: 'organizationalUnit', ou });
      }
      await c.add(SERVICE_DN, {
        objectClass: ['organizationalRole', 'simpleSecurityObject'],
        cn: 'poort',
        userPassword: SERVICE_PASSWORD,
      });
    });
  } catch (err) {
    await halt();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    url,
    port,
    ...(ldapsUrl && tls ? { ldapsUrl, certificate: tls.certificate } : {}),
    async addPerson(p) {
      const dn = `uid=${p.uid},${PEOPLE}`;
      await admin((c) =>
        c.add(dn, {
          objectClass: ['inetOrgPerson'],
          uid: p.uid,
          cn: p.cn ?? p.uid,
          sn: p.sn ?? p.uid,
          ...(p.givenName ? { givenName: p.givenName } : {}),
          ...(p.mail ? { mail: p.mail } : {}),
          userPassword: p.password,
        }),
      );
      return dn;
    },
    async addAdUser(u) {
      const dn = `cn=${u.displayName ?? u.sAMAccountName},${PEOPLE}`;
      const guid = crypto.randomBytes(16);
      await admin((c) =>
        c.add(dn, [
          new Attribute({ type: 'objectClass', values: ['user'] }),
          new Attribute({ type: 'cn', values: [u.displayName ?? u.sAMAccountName] }),
          new Attribute({ type: 'sAMAccountName', values: [u.sAMAccountName] }),
          new Attribute({ type: 'sn', values: [u.sAMAccountName] }),
          new Attribute({ type: 'displayName', values: [u.displayName ?? u.sAMAccountName] }),
          new Attribute({ type: 'mail', values: [u.mail] }),
          new Attribute({ type: 'userAccountControl', values: [String(u.disabled ? 514 : 512)] }),
          new Attribute({ type: 'objectGUID', values: [guid] }),
          new Attribute({ type: 'userPassword', values: [u.password] }),
          ...(u.memberOf?.length ? [new Attribute({ type: 'memberOf', values: u.memberOf })] : []),
        ]),
      );
      return { dn, guid };
    },
    async addGroup(cn, members) {
      const dn = `cn=${cn},${GROUPS}`;
      await admin((c) => c.add(dn, { objectClass: 'groupOfNames', cn, member: members }));
      return dn;
    },
    async addAdGroup(cn, input = {}) {
      const dn = `cn=${cn},ou=${input.ou ?? 'groups'},${BASE_DN}`;
      await admin((c) =>
        c.add(dn, {
          objectClass: 'group',
          cn,
          ...(input.memberOf?.length ? { memberOf: input.memberOf } : {}),
        }),
      );
      return dn;
    },
    async replace(dn, attribute, values) {
      await admin((c) =>
        c.modify(
          dn,
          new Change({ operation: 'replace', modification: new Attribute({ type: attribute, values }) }),
        ),
      );
    },
    async rename(dn, newRdn) {
      await admin((c) => c.modifyDN(dn, newRdn));
      return `${newRdn},${dn.slice(dn.indexOf(',') + 1)}`;
    },
    async remove(dn) {
      await admin((c) => c.del(dn));
    },
    pid: () => child?.pid,
    pause: halt,
    start: launch,
    async stop() {
      await halt();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The ldap section of a Poort configuration for this server, OpenLDAP-style; `extra` is YAML added under it. */
export function ldapYaml(slapd: Pick<Slapd, 'url'>, extra = ''): string {
  return [
    'ldap:',
    `  url: ${slapd.url}`,
    `  bind_dn: "${SERVICE_DN}"`,
    `  bind_password: ${SERVICE_PASSWORD}`,
    '  timeout: 2s',
    '  users:',
    `    base_dn: "${PEOPLE}"`,
    '  groups:',
    `    base_dn: "${GROUPS}"`,
    extra,
  ].join('\n');
}
