import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, repoRoot, type Sandbox } from '../helpers/cli.js';

const shipped = fs.readFileSync(path.join(repoRoot, 'config', 'poort.yaml'), 'utf8');

// The starter configuration is the embedded one (SQLite in ./data) on every test backend: `poort init` writes it
// and creates that database, so these tests run on the embedded backend only.
// Each test runs the CLI several times; allow for a slow, busy machine.
describe('poort init (the embedded starter configuration)', { timeout: 30_000 }, () => {
  let box: Sandbox;
  beforeAll(() => {
    box = createSandbox({ backend: 'embedded' });
  });
  afterAll(() => box.remove());

  it('writes the starter configuration, the database and the keys, and says what to do next', async () => {
    const result = await box.run(['init']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const file = path.join(box.dir, 'poort.yaml');
    expect(fs.readFileSync(file, 'utf8')).toBe(shipped);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(box.dataDir, 'poort.sqlite'))).toBe(true);
    const keyFiles = fs.readdirSync(box.keysDir);
    expect(keyFiles).toContain('secrets.json');
    expect(keyFiles.filter((f) => f.startsWith('signing-'))).toHaveLength(2);
    expect(result.stdout).toContain(file);
    expect(result.stdout).toMatch(/RS256 signing key/);
    expect(result.stdout).toMatch(/ES256 signing key/);
    expect(result.stdout).toContain('Next steps');
    // The tables exist: the store was migrated.
    expect(box.query((db) => db.prepare('SELECT count(*) AS n FROM users').get())).toEqual({ n: 0 });
  });

  it('refuses to overwrite an existing configuration without --force', async () => {
    const file = path.join(box.dir, 'poort.yaml');
    fs.writeFileSync(file, '# mine\n');
    const result = await box.run(['init']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^poort: .*poort\.yaml already exists; use --force/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(fs.readFileSync(file, 'utf8')).toBe('# mine\n');
  });

  it('overwrites with --force and keeps the existing keys', async () => {
    const before = fs.readdirSync(box.keysDir).sort();
    const result = await box.run(['init', '--force']);
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(box.dir, 'poort.yaml'), 'utf8')).toBe(shipped);
    expect(fs.readdirSync(box.keysDir).sort()).toEqual(before);
    expect(result.stdout).toContain('Kept the existing keys');
  });

  it('writes to the --config path', async () => {
    const result = await box.run(['--config', 'etc/custom.yaml', 'init']);
    expect(result.code).toBe(0);
    const file = path.join(box.dir, 'etc', 'custom.yaml');
    expect(fs.readFileSync(file, 'utf8')).toBe(shipped);
    expect(result.stdout).toContain(`--config ${file}`);
  });
});
