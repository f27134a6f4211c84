import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, filesUnder, type Sandbox } from '../helpers/cli.js';

const SECRET = 'wiki-s3cret-that-is-long-enough';

// Each test runs the CLI several times; allow for a slow, busy machine.
describe('poort client', { timeout: 60_000 }, () => {
  let box: Sandbox;
  const output: string[] = [];
  const run = async (args: string[], input?: string) => {
    const result = await box.run(args, { input });
    output.push(result.stdout, result.stderr);
    return result;
  };

  beforeAll(() => {
    box = createSandbox();
  });
  afterAll(() => box.remove());

  it('adds a confidential client with the secret from stdin', async () => {
    const result = await run(
      [
        'client',
        'add',
        'wiki',
        '--secret-stdin',
        '--redirect-uri',
        'https://wiki.example.org/cb',
        '--redirect-uri',
        'https://wiki.example.org/cb2',
        '--post-logout-redirect-uri',
        'https://wiki.example.org/',
        '--backchannel-logout-uri',
        'https://wiki.example.org/logout',
        '--name',
        'Team wiki',
        '--first-party',
      ],
      `${SECRET}\n`,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Added confidential client wiki');
    expect(result.stdout).toMatch(/^client_id:\s+wiki$/m);
  });

  it.concurrent('adds a public client', async ({ expect }) => {
    const result = await run([
      'client',
      'add',
      'spa',
      '--public',
      '--redirect-uri',
      'http://localhost:3000/cb',
      '--require-pkce',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Added public client spa');
  });

  it.concurrent('adds a client_credentials client without redirect URIs', async ({ expect }) => {
    const result = await run(
      ['client', 'add', 'batch', '--secret-stdin', '--grant-types', 'client_credentials'],
      'batch-secret-0123456789\r\n',
    );
    expect(result.code).toBe(0);
  });

  it('lists clients as JSON', async () => {
    const result = await run(['client', 'list', '--json']);
    expect(result.code).toBe(0);
    const clients = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
    expect(clients.map((c) => c.clientId)).toEqual(['batch', 'spa', 'wiki']);
    expect(clients.find((c) => c.clientId === 'wiki')).toMatchObject({
      public: false,
      name: 'Team wiki',
      redirectUris: ['https://wiki.example.org/cb', 'https://wiki.example.org/cb2'],
      postLogoutRedirectUris: ['https://wiki.example.org/'],
      backchannelLogoutUri: 'https://wiki.example.org/logout',
      grantTypes: ['authorization_code', 'refresh_token'],
      firstParty: true,
      requirePkce: false,
    });
    expect(clients.find((c) => c.clientId === 'spa')).toMatchObject({
      public: true,
      requirePkce: true,
      firstParty: false,
    });
    expect(clients.find((c) => c.clientId === 'batch')).toMatchObject({ grantTypes: ['client_credentials'] });
    for (const c of clients) expect(Object.keys(c).some((k) => /secret/i.test(k))).toBe(false);
  });

  it('lists and shows clients for people', async () => {
    const [list, show, json] = await Promise.all([
      run(['client', 'list']),
      run(['client', 'show', 'wiki']),
      run(['client', 'show', 'wiki', '--json']),
    ]);
    expect(list.stdout.split('\n')[0]).toMatch(/^CLIENT_ID\s+TYPE\s+NAME/);
    expect(list.stdout.trimEnd().split('\n')).toHaveLength(4);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^type:\s+confidential/m);
    expect(JSON.parse(json.stdout)).toMatchObject({ clientId: 'wiki', source: 'store' });
  });

  it('never prints the secret and stores it only encrypted', async () => {
    for (const text of output) expect(text).not.toContain(SECRET);
    const metadata = (await box.withDb((db) =>
      db.selectFrom('clients').select('metadata').where('client_id', '=', 'wiki').executeTakeFirst(),
    ))!;
    const sealed = (JSON.parse(metadata.metadata) as { client_secret: string }).client_secret;
    expect(sealed).toMatch(/^v1\./);
    expect(metadata.metadata).not.toContain(SECRET);
    for (const file of filesUnder(box.dir)) expect(fs.readFileSync(file).includes(SECRET)).toBe(false);
  });

  it('refuses a duplicate, an invalid redirect URI and a short secret', async () => {
    const [duplicate, http, short] = await Promise.all([
      run(['client', 'add', 'spa', '--public', '--redirect-uri', 'http://localhost/cb']),
      run(['client', 'add', 'spa2', '--public', '--redirect-uri', 'http://app.example.org/cb']),
      run(['client', 'add', 'x', '--secret-stdin', '--redirect-uri', 'https://x.example.org/cb'], 'short\n'),
    ]);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toBe('poort: client spa already exists\n');
    expect(http.code).toBe(1);
    expect(http.stderr).toContain('a public client may use http only on a loopback address');
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('at least 16 characters');
  });

  it('removes a client', async () => {
    const result = await run(['client', 'remove', 'spa']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('Removed client spa\n');
    const [again, show] = await Promise.all([
      run(['client', 'remove', 'spa']),
      run(['client', 'show', 'spa']),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('poort: no client spa\n');
    expect(show.code).toBe(1);
  });
});
