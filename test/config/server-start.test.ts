import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/paths.js';
import { provisionBackend, withStorage } from '../helpers/backend.js';
import { freePort, tempDir } from '../helpers/poort.js';

const MAIN = path.join(packageRoot, 'dist', 'src', 'server', 'main.js');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built server (`npm start`) with only the given environment, in `cwd`. `whileRunning`, when given, is
 * called once it has said it listens; the server is then stopped with SIGTERM.
 */
function runServer(
  env: Record<string, string>,
  cwd: string,
  whileRunning?: (url: string) => Promise<void>,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let started = false;
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const line = stdout.split('\n').find((l) => l.includes('"server.started"'));
      if (line && !started && whileRunning) {
        started = true;
        const { address } = JSON.parse(line) as { address: string };
        whileRunning(`http://${address}`).then(
          () => child.kill('SIGTERM'),
          (err: unknown) => {
            child.kill('SIGKILL');
            reject(err as Error);
          },
        );
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('the server process', () => {
  let dir: string;
  beforeAll(() => {
    if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" before these tests`);
    dir = tempDir('poort-process-');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses to start with a bad configuration file: exit 78, and the file, key and reason on stderr', async () => {
    const config = path.join(dir, 'bad.yaml');
    fs.writeFileSync(config, "server:\n  port: abc\n  trust_proxy: ['10.0.0.0/40']\n");
    const run = await runServer({ POORT_CONFIG: config }, dir);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('poort: configuration error:');
    expect(run.stderr).toContain(`${config}: server.port: `);
    expect(run.stderr).toContain('(got "abc")');
    expect(run.stderr).toContain(`${config}: server.trust_proxy[0]: expected an IP address or CIDR range`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(path.join(dir, 'keys'))).toBe(false);
  });

  it('names a bad environment variable', async () => {
    const config = path.join(dir, 'empty.yaml');
    fs.writeFileSync(config, '');
    const run = await runServer({ POORT_CONFIG: config, POORT_PORT: 'abc' }, dir);
    expect(run.code).toBe(78);
    expect(run.stderr).toMatch(/POORT_PORT \(server\.port\): .*\(got "abc"\)/);
  });

  it('names a configuration file that does not exist', async () => {
    const run = await runServer({ POORT_CONFIG: path.join(dir, 'missing.yaml') }, dir);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain(
      `${path.join(dir, 'missing.yaml')}: cannot read the configuration file: ENOENT`,
    );
  });

  it('refuses to start with a policy file it cannot use, naming the file, the rule and the reason', async () => {
    const sub = tempDir('poort-bad-policy-');
    try {
      const policy = path.join(sub, 'policies.yaml');
      fs.writeFileSync(policy, 'rules:\n  - id: office\n    when: { netwerk: office }\n    then: allow\n');
      const config = path.join(sub, 'poort.yaml');
      fs.writeFileSync(
        config,
        'policies: { file: policies.yaml }\nstorage: { data_dir: ./data }\nkeys: { dir: ./keys }\n',
      );
      const run = await runServer({ POORT_CONFIG: config, POORT_PORT: String(await freePort()) }, sub);
      expect(run.code).toBe(78);
      expect(run.stderr).toContain('poort: configuration error:');
      expect(run.stderr).toContain(
        `${config}: policies.file: ${policy}: rules[0] (id "office"): when: unknown key "netwerk"`,
      );
      expect(run.stderr).toContain('(line 3)');
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(run.stdout).not.toContain('"server.started"');

      fs.rmSync(policy);
      const missing = await runServer({ POORT_CONFIG: config, POORT_PORT: String(await freePort()) }, sub);
      expect(missing.code).toBe(78);
      expect(missing.stderr).toContain(
        `${config}: policies.file: ${policy}: cannot read the policy file: ENOENT`,
      );
    } finally {
      fs.rmSync(sub, { recursive: true, force: true });
    }
  });

  it('starts with a good configuration, answers, and stops cleanly on SIGTERM', async () => {
    const config = path.join(dir, 'good.yaml');
    const port = await freePort();
    // on the scaled test backend (POORT_TEST_BACKEND), with a PostgreSQL database and Redis prefix of its own
    const stores = await provisionBackend();
    fs.writeFileSync(
      config,
      withStorage(
        `server: { port: ${port}, issuer: 'http://localhost:${port}' }\nstorage: { data_dir: ./data }\nkeys: { dir: ./keys }\n`,
        stores.storage,
      ),
    );
    let discovery: Record<string, unknown> = {};
    let run: Run;
    try {
      run = await runServer({ POORT_CONFIG: config }, dir, async (url) => {
        expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
        discovery = (await (await fetch(`${url}/.well-known/openid-configuration`)).json()) as Record<
          string,
          unknown
        >;
      });
    } finally {
      await stores.drop();
    }
    expect(run.code).toBe(0);
    expect(discovery.issuer).toBe(`http://localhost:${port}`);
    // Keys and databases are the server's own: created 0600 in folders of mode 0700.
    expect(fs.statSync(path.join(dir, 'keys')).mode & 0o777).toBe(0o700);
    for (const name of fs.readdirSync(path.join(dir, 'keys')))
      expect(fs.statSync(path.join(dir, 'keys', name)).mode & 0o777).toBe(0o600);
    if (stores.backend === 'embedded') {
      expect(fs.statSync(path.join(dir, 'data', 'poort.sqlite')).mode & 0o077).toBe(0);
    }
    expect(run.stdout).toContain('"event":"server.stopping"');
  });
});
