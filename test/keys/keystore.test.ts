import fs from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyStore, KeyStoreError } from '../../src/keys/keystore.js';
import { tempDir } from '../helpers/poort.js';

const mode = (file: string) => fs.statSync(file).mode & 0o777;

describe('the key store', () => {
  let root: string;
  let dir: string;
  let store: KeyStore;

  beforeEach(() => {
    root = tempDir('poort-keys-');
    dir = path.join(root, 'keys');
    store = new KeyStore(dir);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('creates one RS256 and one ES256 signing key and the secret material, each in its own 0600 file', async () => {
    const { created } = await store.ensure();
    expect(mode(dir)).toBe(0o700);
    const keys = store.signingKeys();
    expect(keys.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(created.sort()).toEqual([...keys.map((k) => k.kid), 'secrets.json'].sort());
    const files = fs.readdirSync(dir).sort();
    expect(files).toEqual([...keys.map((k) => `signing-${k.kid}.json`), 'secrets.json'].sort());
    for (const f of files) expect(mode(path.join(dir, f)), f).toBe(0o600);
  });

  it('names each key by its JWK thumbprint and keeps the private part', async () => {
    await store.ensure();
    for (const key of store.signingKeys()) {
      expect(key.jwk).toMatchObject({ kid: key.kid, alg: key.alg, use: 'sig' });
      expect(key.jwk.d).toBeTypeOf('string');
      expect(await calculateJwkThumbprint(key.jwk, 'sha256')).toBe(key.kid);
    }
    expect(store.signingKeys().find((k) => k.alg === 'RS256')!.jwk.kty).toBe('RSA');
    expect(store.signingKeys().find((k) => k.alg === 'ES256')!.jwk).toMatchObject({
      kty: 'EC',
      crv: 'P-256',
    });
  });

  it('changes nothing when everything is there', async () => {
    await store.ensure();
    const before = fs.readdirSync(dir).sort();
    const secrets = fs.readFileSync(path.join(dir, 'secrets.json'), 'utf8');
    expect(await store.ensure()).toEqual({ created: [] });
    expect(fs.readdirSync(dir).sort()).toEqual(before);
    expect(fs.readFileSync(path.join(dir, 'secrets.json'), 'utf8')).toBe(secrets);
  });

  it('gives secret material of the right sizes', async () => {
    await store.ensure();
    const secrets = store.secrets();
    expect(store.cookieKeys()).toHaveLength(1);
    expect(Buffer.from(store.cookieKeys()[0]!.key, 'base64url')).toHaveLength(32);
    expect(secrets.encryptionKey).toHaveLength(32);
    expect(secrets.csrfKey).toHaveLength(32);
  });

  it('adds a new key per algorithm on rotate; the new ones come first, the old ones stay', async () => {
    await store.ensure();
    const old = store.signingKeys();
    const version = store.version();
    const added = await store.rotate();
    expect(added.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    const keys = store.signingKeys();
    expect(keys).toHaveLength(4);
    for (const alg of ['RS256', 'ES256']) {
      expect(keys.find((k) => k.alg === alg)!.kid).toBe(added.find((k) => k.alg === alg)!.kid);
    }
    expect(keys.map((k) => k.kid)).toEqual(expect.arrayContaining(old.map((k) => k.kid)));
    expect(store.version()).not.toBe(version);
    for (const k of added) expect(mode(path.join(dir, `signing-${k.kid}.json`))).toBe(0o600);
  });

  it('retires an old key, and refuses to retire the current key of an algorithm or an unknown one', async () => {
    await store.ensure();
    const oldRsa = store.signingKeys().find((k) => k.alg === 'RS256')!;
    expect(() => store.retire(oldRsa.kid)).toThrow(KeyStoreError);
    expect(() => store.retire(oldRsa.kid)).toThrow(/is the current RS256 signing key/);

    await store.rotate();
    expect(store.retire(oldRsa.kid).kid).toBe(oldRsa.kid);
    expect(store.signingKeys().map((k) => k.kid)).not.toContain(oldRsa.kid);
    expect(fs.existsSync(path.join(dir, `signing-${oldRsa.kid}.json`))).toBe(false);
    expect(() => store.retire('no-such-kid')).toThrow(/no signing key with kid no-such-kid/);
  });

  it('publishes a new key at once but signs with it only after the activation delay', async () => {
    const delayed = new KeyStore(dir, 60);
    await delayed.ensure();
    const first = delayed.activeKey('RS256')!;
    expect(delayed.publishedKeys()[0]!.kid).toBe(first.kid);
    const added = (await delayed.rotate()).find((k) => k.alg === 'RS256')!;
    expect(delayed.publishedKeys().map((k) => k.kid)).toContain(added.kid);
    expect(delayed.activeKey('RS256')!.kid).toBe(first.kid);
    expect(delayed.currentKey('RS256').kid).toBe(first.kid);
    expect(() => delayed.retire(first.kid)).toThrow(/is the current RS256 signing key/);
    const later = Date.parse(added.created) + 61_000;
    expect(delayed.activeKey('RS256', delayed.signingKeys(), later)!.kid).toBe(added.kid);
    expect(delayed.publishedKeys(later)[0]!.kid).toBe(added.kid);
    expect(delayed.version(later)).not.toBe(delayed.version());
  });

  it('rotates the cookie key: the new one verifies at once and signs after the activation delay', async () => {
    const delayed = new KeyStore(dir, 60);
    await delayed.ensure();
    const [first] = delayed.cookieKeys();
    expect(first!.id).toMatch(/^cookie-[0-9a-f]{16}$/);
    const before = delayed.version();
    const added = await delayed.rotateCookieKey();
    expect(added.id).not.toBe(first!.id);
    expect(mode(path.join(dir, 'secrets.json'))).toBe(0o600);
    // published for verification at once (a server notices the change), the old key still signs ...
    expect(delayed.version()).not.toBe(before);
    expect(delayed.cookieKeys().map((k) => k.id)).toEqual([first!.id, added.id]);
    // ... until the delay has passed
    const later = Date.parse(added.created) + 61_000;
    expect(delayed.cookieKeys(later).map((k) => k.id)).toEqual([added.id, first!.id]);
    expect(delayed.version(later)).not.toBe(delayed.version());
    // the other secrets are untouched
    expect(delayed.secrets()).toEqual(store.secrets());
  });

  it('retires an old cookie key, never the one that signs', async () => {
    await store.ensure();
    const [first] = store.cookieKeys();
    const added = await store.rotateCookieKey(); // activation delay 0: it signs at once
    expect(store.cookieKeys()[0]!.id).toBe(added.id);
    await expect(store.retireCookieKey(added.id)).rejects.toThrow(
      `${added.id} is the current cookie key; run "poort keys rotate"`,
    );
    await expect(store.retireCookieKey('cookie-0000000000000000')).rejects.toThrow(
      'no cookie key cookie-0000000000000000',
    );
    expect((await store.retireCookieKey(first!.id)).id).toBe(first!.id);
    expect(store.cookieKeys().map((k) => k.id)).toEqual([added.id]);
    expect(fs.readFileSync(path.join(dir, 'secrets.json'), 'utf8')).not.toContain(first!.key);
  });

  it('names a damaged key file', async () => {
    await store.ensure();
    fs.writeFileSync(path.join(dir, 'signing-broken.json'), '{not json');
    expect(() => store.signingKeys()).toThrow(/signing-broken\.json: not a Poort signing key/);
  });
});
