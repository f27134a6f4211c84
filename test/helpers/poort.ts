import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import type { LoadedConfig } from '../../src/config/load.js';
import { loadConfig } from '../../src/config/load.js';
import type { GrantType } from '../../src/clients/clients.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { freePort } from '../../bench/free-port.js';
import { provisionBackend, withStorage, type ProvisionedBackend } from './backend.js';

export { freePort };

export function tempDir(prefix = 'poort-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TestPoort extends RunningServer {
  issuer: string;
  dir: string;
  addUser(input: {
    username: string;
    password: string;
    email?: string;
    name?: string;
    groups?: string[];
  }): Promise<string>;
  addClient(input: {
    clientId: string;
    secret?: string;
    redirectUris?: string[];
    postLogoutRedirectUris?: string[];
    grantTypes?: GrantType[];
    firstParty?: boolean;
    requirePkce?: boolean;
    backchannelLogoutUri?: string;
    name?: string;
  }): Promise<void>;
  /** the stores this server uses (POORT_TEST_BACKEND): its own PostgreSQL database and Redis prefix on scaled */
  backend: ProvisionedBackend;
  /** closes the server, drops its database and Redis keys (scaled) and removes its folder */
  stop(): Promise<void>;
}

/**
 * Starts a real Poort on a free loopback port with its own data and keys folders. `yaml` is extra configuration
 * written to the test's own poort.yaml; the issuer is http://localhost:<port> (`options.host`: 127.0.0.1, for a
 * second Poort whose cookies a browser must keep apart). `options.log` replaces the silent logger, for tests that
 * read what is logged.
 *
 * With POORT_TEST_BACKEND=scaled the server gets a PostgreSQL database and a Redis key prefix of its own, written
 * into its poort.yaml (unless `yaml` chooses a store itself), so that the CLI run with that file uses them too.
 */
export async function startPoort(
  yaml = '',
  options: { log?: Logger; host?: 'localhost' | '127.0.0.1' } = {},
): Promise<TestPoort> {
  const dir = tempDir();
  const port = await freePort();
  const issuer = `http://${options.host ?? 'localhost'}:${port}`;
  const file = path.join(dir, 'poort.yaml');
  const backend = await provisionBackend();
  let server: RunningServer;
  try {
    fs.writeFileSync(file, backend.backend === 'embedded' ? yaml : withStorage(yaml, backend.storage));
    const loaded: LoadedConfig = loadConfig({
      file,
      env: {
        POORT_PORT: String(port),
        POORT_ISSUER: issuer,
        POORT_DATA_DIR: path.join(dir, 'data'),
        POORT_KEYS_DIR: path.join(dir, 'keys'),
      },
    });
    const log = options.log ?? pino({ level: process.env.POORT_TEST_LOG ?? 'silent' });
    server = await startServer(loaded, { log });
  } catch (err) {
    await backend.drop();
    throw err;
  }
  const { services } = server;
  return {
    ...server,
    issuer,
    dir,
    backend,
    async addUser({ username, password, email, name, groups = [] }) {
      const user = await services.users.create({
        username,
        email: email ?? `${username}@example.org`,
        name: name ?? null,
        passwordHash: await services.hasher.hash(password),
      });
      for (const g of groups) {
        if (!(await services.groups.find(g))) await services.groups.create(g);
        await services.groups.addMember(g, user.id);
      }
      return user.id;
    },
    async addClient(input) {
      await services.clients.add({
        clientId: input.clientId,
        name: input.name,
        secret: input.secret,
        redirectUris: input.redirectUris ?? [],
        postLogoutRedirectUris: input.postLogoutRedirectUris ?? [],
        grantTypes: input.grantTypes ?? ['authorization_code', 'refresh_token'],
        firstParty: input.firstParty ?? true,
        requirePkce: input.requirePkce ?? false,
        backchannelLogoutUri: input.backchannelLogoutUri,
      });
    },
    async stop() {
      await server.close();
      await backend.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
