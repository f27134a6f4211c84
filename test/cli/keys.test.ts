import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../helpers/cli.js';

interface Key {
  kid: string;
  alg: string;
  created: string;
  current: boolean;
}

// Each test runs the CLI several times; allow for a slow, busy machine.
describe('poort keys', { timeout: 60_000 }, () => {
  let box: Sandbox;
  const keys = async () => {
    const result = await box.run(['keys', 'list', '--json']);
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as Key[];
  };

  beforeAll(() => {
    box = createSandbox();
    // New keys sign at once here; the activation delay has its own test on a running server.
    fs.writeFileSync(path.join(box.dir, 'poort.yaml'), 'keys: { activation_delay: 0s }\n');
  });
  afterAll(() => box.remove());

  it('lists one current key per algorithm, without private material', async () => {
    const list = await keys();
    const text = await box.run(['keys', 'list']);
    expect(text.stdout.split('\n')[0]).toMatch(/^KID\s+ALG\s+CREATED\s+CURRENT$/);
    // the signing keys and the key that signs the session cookies (by an id from its hash, never the key)
    expect(list.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256', 'cookie']);
    expect(list.find((k) => k.alg === 'cookie')!.kid).toMatch(/^cookie-[0-9a-f]{16}$/);
    const secrets = JSON.parse(fs.readFileSync(path.join(box.dir, 'keys', 'secrets.json'), 'utf8')) as {
      cookie_keys: string[];
    };
    expect(text.stdout).not.toContain(secrets.cookie_keys[0]!);
    expect(list.every((k) => k.current)).toBe(true);
    for (const k of list) expect(Object.keys(k).sort()).toEqual(['alg', 'created', 'current', 'kid']);
    for (const k of list)
      expect(text.stdout).toMatch(new RegExp(`^${k.kid}\\s+${k.alg}\\s+\\S+\\s+current$`, 'm'));
  });

  // Six CLI runs, one of which makes three key pairs (RS256, ES256 and the SAML certificate's RSA key).
  it('rotates, refuses to retire a current key and retires an old one', async () => {
    const before = await keys();
    const rotated = await box.run(['keys', 'rotate']);
    expect(rotated.code).toBe(0);
    const after = await keys();
    // the SAML certificate is made by the server's first start or by a rotation
    expect(after).toHaveLength(7);
    const added = after.filter((k) => !before.some((b) => b.kid === k.kid));
    expect(added.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256', 'SAML', 'cookie']);
    for (const k of added) {
      expect(k.current).toBe(true);
      expect(rotated.stdout).toContain(k.kid);
    }
    expect(
      after
        .filter((k) => !k.current)
        .map((k) => k.kid)
        .sort(),
    ).toEqual(before.map((k) => k.kid).sort());

    const current = added[0]!;
    const old = before[0]!;
    // Not side by side with the retirement: a process listing the folder while a file goes may see it vanish.
    const [refused, unknown] = await Promise.all([
      box.run(['keys', 'retire', current.kid]),
      box.run(['keys', 'retire', 'no-such-kid']),
    ]);
    const retired = await box.run(['keys', 'retire', old.kid]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${current.kid} is the current ${current.alg} signing key`);
    expect(retired.code).toBe(0);
    expect(retired.stdout).toContain(old.kid);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('poort: no signing key with kid no-such-kid\n');
    expect((await keys()).map((k) => k.kid)).not.toContain(old.kid);

    // cookie keys the same way: the current one stays, the old one goes
    const newCookie = added.find((k) => k.alg === 'cookie')!;
    const oldCookie = before.find((k) => k.alg === 'cookie')!;
    const keep = await box.run(['keys', 'retire', newCookie.kid]);
    expect(keep.code).toBe(1);
    expect(keep.stderr).toContain(`${newCookie.kid} is the current cookie key`);
    const drop = await box.run(['keys', 'retire', oldCookie.kid]);
    expect(drop.code).toBe(0);
    expect(drop.stdout).toContain(`Retired cookie key ${oldCookie.kid}`);
    expect((await keys()).filter((k) => k.alg === 'cookie').map((k) => k.kid)).toEqual([newCookie.kid]);
  }, 60_000);

  it('retires a kid that starts with "-" without needing "--"', async () => {
    // A kid is a base64url thumbprint, so about one in 32 starts with "-"; plant an old key with such a kid.
    const kid = `-${'A'.repeat(42)}`;
    const key = { kid, alg: 'ES256', created: '2000-01-01T00:00:00.000Z', jwk: {} };
    fs.writeFileSync(path.join(box.keysDir, `signing-${kid}.json`), JSON.stringify(key), { mode: 0o600 });
    const result = await box.run(['keys', 'retire', kid]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(fs.existsSync(path.join(box.keysDir, `signing-${kid}.json`))).toBe(false);
  });

  it('writes every key file with mode 0600', () => {
    const files = fs.readdirSync(box.keysDir);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(fs.statSync(path.join(box.keysDir, f)).mode & 0o777).toBe(0o600);
  });
});
