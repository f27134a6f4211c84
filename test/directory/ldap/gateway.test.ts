import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryUnavailableError } from '../../../src/directory/ldap/gateway.js';
import { freePort, tempDir } from '../../helpers/poort.js';
import { gatewayTo, SERVICE_DN, startSlapd, type Slapd } from '../../helpers/slapd.js';

let slapd: Slapd;
let dir: string;
let caFile: string;

beforeAll(async () => {
  slapd = await startSlapd({ tls: true });
  await slapd.addPerson({ uid: 'jan', password: 'jan-directory-password', mail: 'jan@school.example' });
  dir = tempDir();
  caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, slapd.certificate!);
});
afterAll(async () => {
  await slapd?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const gateway = (settings: Record<string, unknown>) => gatewayTo(slapd, settings);

describe('the connection to the directory', () => {
  it('speaks TLS: StartTLS and ldaps://, with the certificate checked against tls.ca_file', async () => {
    for (const settings of [
      { start_tls: true, tls: { ca_file: caFile } },
      { url: slapd.ldapsUrl, tls: { ca_file: caFile } },
    ]) {
      expect(await gateway(settings).checkPassword('jan', 'jan-directory-password')).toMatchObject({
        kind: 'ok',
      });
    }
  });

  it('refuses a server whose certificate it cannot trust, before any password is sent', async () => {
    for (const settings of [{ start_tls: true }, { url: slapd.ldapsUrl }]) {
      const err = await gateway(settings)
        .checkPassword('jan', 'jan-directory-password')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DirectoryUnavailableError);
      expect(String((err as Error).message)).toMatch(/self.signed|certificate/i);
    }
  });

  it('tries the next server when one does not answer', async () => {
    const dead = `ldap://127.0.0.1:${await freePort()}`;
    expect(await gateway({ url: [dead, slapd.url] }).check()).toBe(slapd.url);
    const err = await gateway({ url: [dead] })
      .check()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DirectoryUnavailableError);
    expect((err as Error).message).toContain(`no LDAP server answered (${dead})`);
  });

  it('says so when the service account is refused, rather than calling every user unknown', async () => {
    const err = await gateway({ bind_password: 'not-the-service-password' })
      .checkPassword('jan', 'jan-directory-password')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DirectoryUnavailableError);
    expect((err as Error).message).toContain(`refused the service account ${SERVICE_DN}`);
  });

  it('never sends an empty password, which the server would take for an anonymous bind', async () => {
    expect(await gateway({}).checkPassword('jan', '')).toEqual({ kind: 'unknown' });
  });
});
