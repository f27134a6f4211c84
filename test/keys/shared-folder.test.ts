import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/paths.js';
import { tempDir } from '../helpers/poort.js';

const KEYSTORE = path.join(packageRoot, 'dist', 'src', 'keys', 'keystore.js');

/**
 * What one node does with the keys folder as it starts, in a process of its own: ensure() it, then print what it
 * will sign and encrypt with.
 */
function startingNode(dir: string): Promise<{ secrets: string; kids: string }> {
  const script = `
    const { KeyStore } = await import(${JSON.stringify(KEYSTORE)});
    const store = new KeyStore(${JSON.stringify(dir)}, 120);
    await store.ensure();
    const s = store.secrets();
    process.stdout.write(JSON.stringify({
      secrets: [store.cookieKeys().map((k) => k.key).join(','), s.encryptionKey.toString('hex'), s.csrfKey.toString('hex')].join('|'),
      kids: store.publishedKeys().map((k) => k.kid).join(','),
    }));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe' });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out) as { secrets: string; kids: string }) : reject(new Error(err)),
    );
  });
}

describe('a keys folder shared by several nodes', () => {
  let root: string;
  beforeEach(() => {
    if (!fs.existsSync(KEYSTORE)) throw new Error(`${KEYSTORE} is missing: run "npm run build" first`);
    root = tempDir('poort-shared-keys-');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('gets one key per algorithm and one set of secrets when four nodes start on it at once', async () => {
    const dir = path.join(root, 'keys');
    const nodes = await Promise.all(Array.from({ length: 4 }, () => startingNode(dir)));
    expect(new Set(nodes.map((n) => n.secrets)).size).toBe(1);
    expect(new Set(nodes.map((n) => n.kids)).size).toBe(1);
    const files = fs.readdirSync(dir).sort();
    expect(files.filter((f) => f.startsWith('signing-'))).toHaveLength(2);
    // nothing left behind: no lock, no half-written file
    expect(files.filter((f) => !f.startsWith('signing-'))).toEqual(['secrets.json']);
  });

  it('takes over the lock of a node that died while creating keys', async () => {
    const dir = path.join(root, 'keys');
    fs.mkdirSync(dir, { mode: 0o700 });
    const lock = path.join(dir, '.creating.lock');
    fs.writeFileSync(lock, '12345\n');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lock, old, old);
    const node = await startingNode(dir);
    expect(node.kids.split(',')).toHaveLength(2);
    expect(fs.existsSync(lock)).toBe(false);
  });
});
