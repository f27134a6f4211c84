import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, repoRoot, type Sandbox } from '../helpers/cli.js';

const version = (
  JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }
).version;

// Each test runs the CLI several times; allow for a slow, busy machine.
describe('poort command line', { timeout: 30_000 }, () => {
  let box: Sandbox;
  beforeAll(() => {
    box = createSandbox();
  });
  afterAll(() => box.remove());

  // Wrong use is refused before anything is opened, so these may run side by side.
  it.concurrent.for([
    ['an unknown command', ['frobnicate'], "unknown command 'frobnicate'"],
    ['an unknown subcommand', ['user', 'frobnicate'], "unknown command 'frobnicate'"],
    ['an unknown flag', ['user', 'list', '--frobnicate'], "unknown option '--frobnicate'"],
    ['a missing --email', ['user', 'add', 'alice'], "required option '--email <email>' not specified"],
    ['a missing argument', ['user', 'show'], "missing required argument 'username'"],
    ['an extra argument', ['user', 'show', 'alice', 'bob'], 'too many arguments'],
    ['set-password without --password-stdin', ['user', 'set-password', 'alice'], '--password-stdin'],
    [
      'both --public and --secret-stdin',
      ['client', 'add', 'app', '--public', '--secret-stdin', '--redirect-uri', 'https://app.example.org/cb'],
      'not both',
    ],
    [
      'neither --public nor --secret-stdin',
      ['client', 'add', 'app', '--redirect-uri', 'https://a.example.org/cb'],
      '--public',
    ],
    [
      'an unknown grant type',
      ['client', 'add', 'app', '--public', '--grant-types', 'implicit'],
      'unknown grant type implicit',
    ],
    ['update without changes', ['user', 'update', 'alice'], 'nothing to change'],
    ['no command at all', [], 'Usage: poort'],
  ] as const)('exits 2 with usage on stderr for %s', async ([, args, message], { expect }) => {
    const result = await box.run([...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('Usage: poort');
    expect(result.stdout).toBe('');
    expect(fs.existsSync(box.dataDir)).toBe(false);
  });

  it('prints help for the program and for a group', async () => {
    const top = await box.run(['--help']);
    expect(top.code).toBe(0);
    for (const group of ['init', 'user', 'group', 'client', 'keys']) expect(top.stdout).toContain(group);
    const user = await box.run(['user', '--help']);
    expect(user.code).toBe(0);
    expect(user.stdout).toContain('Usage: poort user');
    expect(user.stdout).toContain('set-password');
    const helpCommand = await box.run(['help', 'client']);
    expect(helpCommand.code).toBe(0);
    expect(helpCommand.stdout).toContain('Usage: poort client');
  });

  it('prints the version', async () => {
    const result = await box.run(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${version}\n`);
  });

  it('exits 1 naming the file, the key and the reason for a bad configuration', async () => {
    fs.writeFileSync(path.join(box.dir, 'bad.yaml'), 'server: { port: "abc" }\n');
    const results = await Promise.all([
      box.run(['--config', 'bad.yaml', 'user', 'list']),
      box.run(['user', 'list', '--config', 'bad.yaml']),
      box.run(['user', 'list'], { env: { POORT_CONFIG: 'bad.yaml' } }),
    ]);
    for (const result of results) {
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `poort: ${path.join(box.dir, 'bad.yaml')}: server.port: ${reasonFor(result.stderr)}\n`,
      );
      expect(result.stderr).toMatch(/expected number/);
      expect(result.stderr).toContain('"abc"');
      expect(result.stdout).toBe('');
    }
    const missing = await box.run(['--config', 'missing.yaml', 'user', 'list']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('missing.yaml: cannot read the configuration file');
  });

  it('reads ./poort.yaml from the working directory', async () => {
    const other = createSandbox();
    try {
      fs.writeFileSync(path.join(other.dir, 'poort.yaml'), 'passwords:\n  policy:\n    min_length: 30\n');
      const result = await other.run(
        ['user', 'add', 'eve', '--email', 'eve@example.org', '--password-stdin'],
        {
          input: 'a perfectly fine passphrase\n',
        },
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('at least 30 characters');
    } finally {
      await other.remove();
    }
  });
});

/** The reason part of `poort: <file>: server.port: <reason>`, whatever zod's wording. */
function reasonFor(stderr: string): string {
  return stderr.slice(stderr.indexOf('server.port: ') + 'server.port: '.length).trimEnd();
}
