import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.js';
import { migrationProvider } from '../../src/store/migrations/index.js';

const databaseModule = pathToFileURL(path.join(repoRoot, 'dist', 'src', 'store', 'database.js')).href;

/** One process that opens (and so migrates) the embedded store in `dataDir`; resolves with its exit code and stderr. */
function openInProcess(dataDir: string): Promise<{ code: number | null; stderr: string }> {
  const script = `const { openDurableStore } = await import(${JSON.stringify(databaseModule)});
const db = await openDurableStore(${JSON.stringify(dataDir)});
await db.destroy();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

// Processes start slowly on a busy machine.
describe('the embedded store opened by several processes at once', { timeout: 60_000 }, () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

  it('runs every migration once: no process fails on a table another one just created', async () => {
    if (!fs.existsSync(new URL(databaseModule)))
      throw new Error(`${databaseModule} is missing: run npm run build`);
    const expected = Object.keys(await migrationProvider.getMigrations()).sort();
    // Several rounds, each on a new folder: the race (two processes running 001_initial) needs no luck to show.
    for (let round = 0; round < 3; round++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'poort-migrate-race-'));
      dirs.push(dir);
      const results = await Promise.all(Array.from({ length: 4 }, () => openInProcess(dir)));
      for (const result of results) expect(result).toEqual({ code: 0, stderr: '' });
      const sqlite = new Database(path.join(dir, 'poort.sqlite'), { readonly: true });
      try {
        const applied = sqlite.prepare('SELECT name FROM kysely_migration ORDER BY name').pluck().all();
        expect(applied).toEqual(expected);
      } finally {
        sqlite.close();
      }
    }
  });
});
