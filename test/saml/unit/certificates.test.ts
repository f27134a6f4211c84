import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SamlCertificates } from '../../../src/keys/saml-certificates.js';
import { tempDir } from '../../helpers/poort.js';

const mode = (file: string) => fs.statSync(file).mode & 0o777;

describe('SAML signing certificates', () => {
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = tempDir('poort-saml-certs-');
    dir = path.join(root, 'keys');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('makes one self-signed RSA certificate with its key on first start, both 0600, and no second one later', async () => {
    const store = new SamlCertificates(dir);
    const { created } = await store.ensure();
    expect(created).toHaveLength(1);
    expect((await store.ensure()).created).toEqual([]);
    const [certificate] = store.list();
    const x509 = new crypto.X509Certificate(certificate!.certificate);
    expect(x509.publicKey.asymmetricKeyType).toBe('rsa');
    expect(x509.checkPrivateKey(crypto.createPrivateKey(certificate!.privateKey))).toBe(true);
    expect(x509.verify(x509.publicKey)).toBe(true);
    for (const f of fs.readdirSync(dir)) expect(mode(path.join(dir, f)), f).toBe(0o600);
  });

  it('publishes a new certificate at once and signs with it only after the activation delay', async () => {
    const store = new SamlCertificates(dir, 120);
    await store.ensure();
    const first = store.active()!;
    const added = await store.add();
    expect(store.published().map((c) => c.id)).toEqual([first.id, added.id]);
    expect(store.active()!.id).toBe(first.id);
    expect(store.active(undefined, Date.now() + 121_000)!.id).toBe(added.id);
  });

  it('retires an old certificate but never the one that signs', async () => {
    const store = new SamlCertificates(dir);
    await store.ensure();
    const first = store.active()!;
    await new Promise((r) => setTimeout(r, 5));
    const second = await store.add();
    expect(store.active()!.id).toBe(second.id);
    expect(() => store.retire(second.id)).toThrow(/current SAML signing certificate/);
    store.retire(first.id);
    expect(store.list().map((c) => c.id)).toEqual([second.id]);
    expect(fs.existsSync(path.join(dir, `saml-${first.id}.key`))).toBe(false);
  });
});
