import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, resolveConfigFile } from '../../src/config/load.js';
import { defaultConfigFile } from '../../src/paths.js';
import { tempDir } from '../helpers/poort.js';

let dir: string;
let n = 0;

beforeAll(() => {
  dir = tempDir('poort-config-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes `yaml` to a fresh file and returns its path. */
function file(yaml: string): string {
  const p = path.join(dir, `poort-${++n}.yaml`);
  fs.writeFileSync(p, yaml);
  return p;
}

/** The ConfigError that loading throws, with the file it was read from. */
function configError(yaml: string, env: NodeJS.ProcessEnv = {}): { message: string; file: string } {
  const f = file(yaml);
  try {
    loadConfig({ file: f, env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return { message: (err as ConfigError).message, file: f };
  }
  throw new Error('expected a ConfigError');
}

describe('loading the configuration file', () => {
  it('gives the documented defaults for an empty file', () => {
    const { config } = loadConfig({ file: file(''), env: {} });
    expect(config.server).toEqual({
      host: '127.0.0.1',
      port: 9000,
      issuer: 'http://localhost:9000',
      trust_proxy: [],
    });
    expect(config.throttle.account).toEqual({
      free_attempts: 5,
      base_delay: 2,
      max_delay: 900,
      window: 3600,
    });
    expect(config.oidc.ttl.authorization_code).toBe(60);
    expect(path.isAbsolute(config.storage.data_dir)).toBe(true);
  });

  it('reads the shipped config/poort.yaml as exactly the defaults', () => {
    const shipped = loadConfig({ file: defaultConfigFile, env: {} }).config;
    const empty = loadConfig({ file: file(''), env: {} }).config;
    expect(shipped).toEqual(empty);
  });

  it('reads durations as seconds, minutes, hours and days', () => {
    const { config } = loadConfig({
      file: file(
        'oidc: { ttl: { access_token: 90s, id_token: 15m, session: 8h, refresh_token: 14d, grant: 120 } }\n',
      ),
      env: {},
    });
    expect(config.oidc.ttl).toMatchObject({
      access_token: 90,
      id_token: 900,
      session: 28_800,
      refresh_token: 1_209_600,
      grant: 120,
    });
  });

  it('names the file, the key path and the reason for a wrong type', () => {
    const { message, file: f } = configError('server:\n  port: abc\n');
    expect(message).toContain(f);
    expect(message).toContain('server.port');
    expect(message).toMatch(/expected number/);
    expect(message).toContain('(got "abc")');
  });

  it('names an unknown key, nested or at the top', () => {
    const nested = configError('server:\n  prot: 9000\n');
    expect(nested.message).toBe(`${nested.file}: server: unknown key prot`);
    const top = configError('sever: {}\n');
    expect(top.message).toBe(`${top.file}: (top level): unknown key sever`);
  });

  it('names a bad CIDR range in trust_proxy by its index', () => {
    const { message, file: f } = configError("server: { trust_proxy: ['10.0.0.0/8', '10.0.0.0/33'] }\n");
    expect(message).toBe(
      `${f}: server.trust_proxy[1]: expected an IP address or CIDR range such as 10.0.0.0/8 (got "10.0.0.0/33")`,
    );
    for (const bad of ['proxy.example.org', '10.0.0.0/8/16']) {
      expect(configError(`server: { trust_proxy: ['${bad}'] }\n`).message).toContain('server.trust_proxy[0]');
    }
  });

  it('names a bad duration', () => {
    const { message, file: f } = configError(
      'throttle:\n  account: { free_attempts: 5, base_delay: 5 minutes, max_delay: 1h, window: 1h }\n',
    );
    expect(message).toContain(
      `${f}: throttle.account.base_delay: expected a duration such as 90s, 15m, 8h or 14d, got "5 minutes"`,
    );
  });

  it('lists every problem, one per line', () => {
    const { message } = configError('server: { port: 0, host: "" }\nlog: { level: loud }\n');
    const lines = message.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.some((l) => l.includes('server.port'))).toBe(true);
    expect(lines.some((l) => l.includes('server.host'))).toBe(true);
    expect(lines.some((l) => l.includes('log.level'))).toBe(true);
  });

  it('refuses text that is not YAML, duplicate keys and a non-mapping document', () => {
    expect(configError('server: [unclosed\n').message).toMatch(/not valid YAML/);
    expect(configError('server: {}\nserver: {}\n').message).toMatch(/not valid YAML/);
    expect(configError('- a\n- b\n').message).toMatch(/\(top level\): expected a mapping/);
  });

  it('names a file it cannot read', () => {
    const missing = path.join(dir, 'missing.yaml');
    expect(() => loadConfig({ file: missing, env: {} })).toThrow(
      new ConfigError(`${missing}: cannot read the configuration file: ENOENT`),
    );
  });

  it('refuses self-service password reset without an e-mail sender for its links', () => {
    const { message, file: f } = configError('passwords: { reset: { self_service: { enabled: true } } }\n');
    expect(message).toBe(
      `${f}: passwords.reset.self_service.enabled: the links are e-mailed, but no e-mail sender is configured: ` +
        'set passwords.reset.email (or mfa.otp.email)',
    );
    const withSender = loadConfig({
      file: file(`passwords:
  reset:
    email: { type: outbox }
    self_service: { enabled: true, account: { free_attempts: 2, base_delay: 1m, max_delay: 1h, window: 1h } }
`),
      env: {},
    }).config.passwords.reset.self_service;
    expect(withSender).toEqual({
      enabled: true,
      link_lifetime: 3600,
      account: { free_attempts: 2, base_delay: 60, max_delay: 3600, window: 3600 },
      ip: { free_attempts: 50, base_delay: 60, max_delay: 3600, window: 3600 },
    });
  });

  it('refuses security notices without an e-mail sender', () => {
    const { message, file: f } = configError('notifications: { security_changes: true }\n');
    expect(message).toBe(
      `${f}: notifications.security_changes: the notices are e-mailed, but no e-mail sender is configured: ` +
        'set passwords.reset.email (or mfa.otp.email)',
    );
    const otp = 'mfa: { otp: { email: { type: outbox } } }\nnotifications: { security_changes: true }\n';
    expect(loadConfig({ file: file(otp), env: {} }).config.notifications).toEqual({
      security_changes: true,
      new_sign_ins: false,
    });
    const signIns = configError('notifications: { new_sign_ins: true }\n');
    expect(signIns.message).toBe(
      `${signIns.file}: notifications.new_sign_ins: the notices are e-mailed, but no e-mail sender is configured: ` +
        'set passwords.reset.email (or mfa.otp.email)',
    );
  });

  it('refuses an issuer with a query or a fragment', () => {
    expect(configError("server: { issuer: 'https://id.example.org/?x=1' }\n").message).toMatch(
      /server\.issuer: must not have a query/,
    );
  });

  it('reads a static client secret from a file next to the configuration, and names the key when it cannot', () => {
    fs.writeFileSync(path.join(dir, 'wiki.secret'), 'a-secret-from-a-file-0123\n');
    const client = (secretFile: string) =>
      `oidc:\n  clients:\n    - client_id: wiki\n      client_secret_file: ${secretFile}\n      redirect_uris: [https://wiki.example.org/cb]\n`;
    expect(
      loadConfig({ file: file(client('wiki.secret')), env: {} }).config.oidc.clients[0]!.client_secret,
    ).toBe('a-secret-from-a-file-0123');
    expect(configError(client('nowhere.secret')).message).toMatch(
      /oidc\.clients\[0\]\.client_secret_file: cannot read .*nowhere\.secret: ENOENT/,
    );
  });
});

describe('the ldap section', () => {
  const ldap = (extra: string) =>
    `ldap:\n  url: ldap://dc1.example.org\n  users:\n    base_dn: "ou=people,dc=example,dc=org"\n${extra}`;

  it('fills in the defaults of its type', () => {
    const config = loadConfig({
      file: file(ldap('  groups: { base_dn: "ou=groups,dc=example,dc=org" }\n')),
      env: {},
    }).config.ldap!;
    expect(config).toMatchObject({
      enabled: true,
      type: 'openldap',
      start_tls: false,
      timeout: 5,
      sync_interval: 900,
    });
    const ad = loadConfig({ file: file(ldap('  type: active_directory\n')), env: {} }).config.ldap!;
    expect(ad.type).toBe('active_directory');
  });

  it('names what is missing or contradictory, by key', () => {
    const f = file(
      'ldap:\n  users: { base_dn: "ou=people,dc=example,dc=org" }\n  groups: { membership: none }\n',
    );
    expect(() => loadConfig({ file: f, env: {} })).toThrow(`${f}: ldap.url: required when enabled`);
    expect(configError(ldap('')).message).toMatch(
      /ldap\.groups\.base_dn: required where groups are searched for/,
    );
    expect(
      configError(ldap('  bind_dn: "cn=poort,dc=example,dc=org"\n  groups: { membership: none }\n')).message,
    ).toMatch(/ldap\.bind_password: bind_dn needs bind_password or bind_password_file/);
    expect(
      configError(
        'ldap:\n  url: ldaps://dc1.example.org\n  start_tls: true\n  users: { base_dn: "o=x" }\n  groups: { membership: none }\n',
      ).message,
    ).toMatch(/ldap\.start_tls: StartTLS is for ldap:\/\/ URLs/);
    const section = (url: string, filter: string) =>
      `ldap:\n  url: ${url}\n  users: { base_dn: "o=x", filter: "${filter}" }\n  groups: { membership: none }\n`;
    expect(configError(section('http://dc1.example.org', '(uid=*)')).message).toMatch(
      /ldap\.url: .*expected ldap:\/\/host\[:port\] or ldaps:\/\/host\[:port\]/,
    );
    expect(configError(section('ldap://dc1', 'uid=x')).message).toMatch(
      /ldap\.users\.filter: expected an LDAP filter in parentheses/,
    );
  });

  it('reads the service password from a file or POORT_LDAP_BIND_PASSWORD, and never repeats a bad one', () => {
    fs.writeFileSync(path.join(dir, 'ldap.secret'), 'from-a-file\n');
    const base = ldap('  bind_dn: "cn=poort,dc=example,dc=org"\n  groups: { membership: none }\n');
    const fromFile = loadConfig({ file: file(`${base}  bind_password_file: ldap.secret\n`), env: {} });
    expect(fromFile.config.ldap!.bind_password).toBe('from-a-file');
    const fromEnv = loadConfig({
      file: file(`${base}  bind_password_file: ldap.secret\n`),
      env: { POORT_LDAP_BIND_PASSWORD: 'from-the-environment' },
    });
    expect(fromEnv.config.ldap!.bind_password).toBe('from-the-environment');
    expect(configError(`${base}  bind_password_file: nowhere.secret\n`).message).toMatch(
      /ldap\.bind_password_file: cannot read .*nowhere\.secret: ENOENT/,
    );
    expect(configError(`${base}  bind_password: 42\n`).message).not.toContain('42');
    expect(configError(`${base}  bind_password: x\n  tls: { ca_file: ldap.secret }\n`).message).toMatch(
      /ldap\.tls\.ca_file: expected PEM certificates/,
    );
  });
});

describe('admin', () => {
  it('names a bad role group, requirement or session lifetime, by key', () => {
    expect(configError("admin: { roles: { helpdesk: ['IT & Security'] } }\n").message).toContain(
      'admin.roles.helpdesk[0]: expected a group name',
    );
    expect(configError('admin: { roles: { root: [wheel] } }\n').message).toContain('admin.roles');
    expect(configError('admin: { require: totp }\n').message).toContain('admin.require');
    expect(configError('admin: { session_lifetime: 10s }\n').message).toContain(
      'admin.session_lifetime: expected between 1m and 8h',
    );
  });
});

describe('upstream_providers', () => {
  const provider = (extra: string) =>
    `upstream_providers:\n  - id: entra\n    name: Microsoft\n    issuer: https://login.microsoftonline.com/tenant/v2.0\n    client_id: poort\n${extra}`;

  it('reads a provider with the default claims, its secret from a file next to the configuration', () => {
    fs.writeFileSync(path.join(dir, 'entra.secret'), 'entra-secret\n');
    const [entra] = loadConfig({ file: file(provider('    client_secret_file: entra.secret\n')), env: {} })
      .config.upstream_providers;
    expect(entra).toMatchObject({
      id: 'entra',
      client_secret: 'entra-secret',
      scopes: ['openid', 'profile', 'email'],
      claims: { id: 'sub', username: 'preferred_username', email: 'email', groups: 'groups' },
      userinfo: true,
    });
    expect(configError(provider('    client_secret_file: nowhere.secret\n')).message).toMatch(
      /upstream_providers\[0\]\.client_secret_file: cannot read .*nowhere\.secret: ENOENT/,
    );
  });

  it('names what is wrong, by key, and never repeats a secret', () => {
    expect(configError(provider('')).message).toMatch(
      /upstream_providers\[0\]\.client_secret: give client_secret or client_secret_file/,
    );
    expect(
      configError(
        provider('    client_secret: x\n').replace(
          'https://login.microsoftonline.com/tenant/v2.0',
          'http://idp.example.org',
        ),
      ).message,
    ).toMatch(/upstream_providers\[0\]\.issuer: expected an https URL \(http only on localhost\)/);
    expect(configError(provider('    client_secret: x\n    scopes: [profile]\n')).message).toMatch(
      /upstream_providers\[0\]\.scopes: must include openid/,
    );
    const twice =
      provider('    client_secret: x\n') +
      '  - { id: entra, name: Other, issuer: "https://idp.example.org", client_id: y, client_secret: z }\n';
    expect(configError(twice).message).toMatch(
      /upstream_providers\[1\]\.id: another provider has the id entra/,
    );
    expect(configError(provider('    client_secret: 12345\n')).message).not.toContain('12345');
    expect(configError(provider('    client_secret: x\n    domains: [School.Example]\n')).message).toMatch(
      /upstream_providers\[0\]\.domains\[0\]: expected a lower-case domain name/,
    );
    const shared =
      provider('    client_secret: x\n    domains: [school.example]\n') +
      '  - { id: google, name: Google, issuer: "https://accounts.google.com", client_id: y, client_secret: z, domains: [school.example] }\n';
    expect(configError(shared).message).toMatch(
      /upstream_providers\[1\]\.domains\[0\]: school\.example is already entra's/,
    );
  });
});

describe('environment overrides', () => {
  it('apply POORT_PORT, POORT_ISSUER, POORT_TRUST_PROXY, POORT_DATA_DIR and POORT_KEYS_DIR over the file', () => {
    const { config } = loadConfig({
      file: file("server: { port: 9000, issuer: 'http://localhost:9000' }\nstorage: { data_dir: ./data }\n"),
      env: {
        POORT_PORT: '9443',
        POORT_ISSUER: 'https://id.example.org',
        POORT_TRUST_PROXY: '10.0.0.0/8, 192.168.1.1 ,2001:db8::/32',
        POORT_DATA_DIR: '/var/lib/poort',
        POORT_KEYS_DIR: 'relative/keys',
      },
    });
    expect(config.server.port).toBe(9443);
    expect(config.server.issuer).toBe('https://id.example.org');
    expect(config.server.trust_proxy).toEqual(['10.0.0.0/8', '192.168.1.1', '2001:db8::/32']);
    expect(config.storage.data_dir).toBe('/var/lib/poort');
    expect(config.keys.dir).toBe(path.resolve('relative/keys'));
  });

  it('ignores empty variables', () => {
    expect(
      loadConfig({ file: file('server: { port: 9100 }\n'), env: { POORT_PORT: '' } }).config.server.port,
    ).toBe(9100);
  });

  it('names the variable, not the file, when its value is bad', () => {
    expect(configError('', { POORT_PORT: 'abc' }).message).toMatch(
      /^POORT_PORT \(server\.port\): .*expected number.*\(got "abc"\)$/,
    );
    expect(configError('', { POORT_PORT: '70000' }).message).toMatch(/^POORT_PORT \(server\.port\): /);
    expect(configError('', { POORT_TRUST_PROXY: '10.0.0.0/8,10.0.0.0/99' }).message).toMatch(
      /^POORT_TRUST_PROXY \(server\.trust_proxy\[1\]\): expected an IP address or CIDR range/,
    );
    expect(configError('', { POORT_ISSUER: 'not a url' }).message).toMatch(
      /^POORT_ISSUER \(server\.issuer\): /,
    );
    expect(configError('', { POORT_ISSUER: 'https://id.example.org/#frag' }).message).toMatch(
      /^POORT_ISSUER: server\.issuer: must not have/,
    );
  });
});

describe('choosing the configuration file', () => {
  it('prefers an explicit path, then POORT_CONFIG, then the shipped defaults', () => {
    expect(resolveConfigFile('/etc/poort/poort.yaml', { POORT_CONFIG: '/elsewhere.yaml' })).toBe(
      '/etc/poort/poort.yaml',
    );
    expect(resolveConfigFile(undefined, { POORT_CONFIG: '/elsewhere.yaml' })).toBe('/elsewhere.yaml');
    const local = path.resolve('poort.yaml');
    expect(resolveConfigFile(undefined, {})).toBe(fs.existsSync(local) ? local : defaultConfigFile);
  });
});
