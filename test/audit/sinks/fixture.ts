import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import type { AuditEventInput, AuditOutcome, StoredAuditEvent } from '../../../src/audit/event.js';
import type { KyselyAuditLog } from '../../../src/audit/kysely-log.js';
import { PostgresAuditLog } from '../../../src/audit/pg-log.js';
import { SqliteAuditLog } from '../../../src/audit/sqlite-log.js';
import { KeyStore } from '../../../src/keys/keystore.js';
import { openDurableSqlite, type Db } from '../../../src/store/database.js';
import { openDurablePostgres } from '../../../src/store/postgres.js';
import { testBackend } from '../../helpers/backend.js';
import { createTestDatabase } from '../../helpers/postgres.js';

/**
 * A real audit trail with a temporary folder: in SQLite there, or on the scaled test backend (POORT_TEST_BACKEND) in
 * a PostgreSQL database of its own.
 */
export interface AuditFixture {
  dir: string;
  audit: KyselyAuditLog;
  db: Db;
  keys: KeyStore;
  /** Another handle on the same database, as a second process (the CLI) would have: its appends fire no listener here. */
  openOther(): Promise<{ audit: KyselyAuditLog; close(): Promise<void> }>;
  appendMany(count: number, input?: (i: number) => AuditEventInput): Promise<StoredAuditEvent[]>;
  close(): Promise<void>;
}

const OUTCOMES: AuditOutcome[] = ['success', 'failure', 'denied'];

export function sampleEvent(i: number): AuditEventInput {
  const outcome = OUTCOMES[i % 3]!;
  return {
    action: outcome === 'success' ? 'signin.password' : 'signin.denied',
    outcome,
    actor: { type: 'user', id: `u-${i}`, name: `user${i}` },
    subject: { id: `u-${i}`, username: `user${i}`, known: true },
    application: { id: 'wiki', protocol: 'oidc' },
    source: { ip: '192.0.2.10', country: 'NL', user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' },
    reason: outcome === 'success' ? undefined : 'invalid_credentials',
    correlation: `corr-${i}`,
    details: { n: i },
  };
}

export async function openAuditFixture(): Promise<AuditFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'poort-audit-'));
  const keys = new KeyStore(path.join(dir, 'keys'));
  await keys.ensure();
  const database = testBackend === 'scaled' ? await createTestDatabase() : undefined;
  const open = async (): Promise<{ db: Db; audit: KyselyAuditLog }> => {
    if (database) {
      const db = await openDurablePostgres(database.url);
      return { db, audit: new PostgresAuditLog(db, keys) };
    }
    const { db, sqlite } = await openDurableSqlite(path.join(dir, 'data'));
    return { db, audit: new SqliteAuditLog(db, sqlite, keys) };
  };
  const { db, audit } = await open();
  return {
    dir,
    audit,
    db,
    keys,
    async openOther() {
      const other = await open();
      return { audit: other.audit, close: () => other.db.destroy() };
    },
    async appendMany(count, input = sampleEvent) {
      const out: StoredAuditEvent[] = [];
      for (let i = 0; i < count; i++) out.push(await audit.append(input(i)));
      return out;
    },
    async close() {
      await db.destroy();
      await database?.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A logger that keeps its JSON lines, to check what is (and is not) logged. */
export function memoryLogger(level = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(line) });
  return { logger, lines };
}

export const silentLogger: Logger = pino({ level: 'silent' });

export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
