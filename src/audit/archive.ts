import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import canonicalize from 'canonicalize';
import { CompactSign, compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import type { KeyStore } from '../keys/keystore.js';
import type { Db } from '../store/database.js';
import { chainHash, GENESIS } from './chain.js';
import type { AuditLog } from './log.js';

export interface ArchiveSummary {
  first_seq: number;
  last_seq: number;
  /** the hash of the first archived event's predecessor: where this archive hangs in the chain */
  prev_hash: string;
  last_hash: string;
  count: number;
  /** SHA-256 over the event lines, in order, each with its newline */
  lines_sha256: string;
  created: string;
}

export interface ArchiveLine {
  seq: number;
  prev_hash: string;
  hash: string;
  /** the canonical JSON that was hashed */
  event: string;
}

const PAGE = 5000;

/**
 * Exports the events older than `before` (up to `upTo`, the least any SIEM sink has delivered) as signed JSON lines,
 * then prunes them. Before the rows go, a signed anchor checkpoint records the last archived hash, so the rest of
 * the chain still verifies, and the file itself verifies on its own with `verifyArchive`.
 */
export async function archiveAndPrune(
  log: AuditLog,
  db: Db,
  keys: KeyStore,
  options: { before: string; out: string; upTo?: number },
): Promise<ArchiveSummary | undefined> {
  const boundary = await db
    .selectFrom('audit_events')
    .select('seq')
    .where('time', '>=', options.before)
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst();
  const newest = await db
    .selectFrom('audit_events')
    .select('seq')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!newest) return undefined;
  let lastSeq = boundary ? boundary.seq - 1 : newest.seq;
  if (options.upTo !== undefined) lastSeq = Math.min(lastSeq, options.upTo);
  const first = await db
    .selectFrom('audit_events')
    .select(['seq', 'prev_hash'])
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst();
  if (!first || lastSeq < first.seq) return undefined;

  fs.mkdirSync(path.dirname(path.resolve(options.out)), { recursive: true });
  const fd = fs.openSync(options.out, 'wx', 0o600);
  const digest = crypto.createHash('sha256');
  let count = 0;
  let lastHash = first.prev_hash;
  try {
    let after = first.seq - 1;
    while (after < lastSeq) {
      const rows = await db
        .selectFrom('audit_events')
        .select(['seq', 'prev_hash', 'hash', 'event'])
        .where('seq', '>', after)
        .where('seq', '<=', lastSeq)
        .orderBy('seq')
        .limit(PAGE)
        .execute();
      if (rows.length === 0) break;
      const text = rows
        .map(
          (r) =>
            `${JSON.stringify({ seq: r.seq, prev_hash: r.prev_hash, hash: r.hash, event: r.event } satisfies ArchiveLine)}\n`,
        )
        .join('');
      digest.update(text);
      fs.writeSync(fd, text);
      count += rows.length;
      lastHash = rows[rows.length - 1]!.hash;
      after = rows[rows.length - 1]!.seq;
    }
    const summary: ArchiveSummary = {
      first_seq: first.seq,
      last_seq: lastSeq,
      prev_hash: first.prev_hash,
      last_hash: lastHash,
      count,
      lines_sha256: digest.digest('hex'),
      created: new Date().toISOString(),
    };
    const key = keys.currentKey('ES256');
    const signature = await new CompactSign(new TextEncoder().encode(canonicalize(summary)!))
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'poort-audit-archive' })
      .sign(await importJWK(key.jwk, 'ES256'));
    fs.writeSync(fd, `${JSON.stringify({ poort_archive: summary, signature })}\n`);
    fs.fsyncSync(fd);
    fs.closeSync(fd);

    await log.signCheckpoint(lastSeq, lastHash, 'anchor');
    await db.deleteFrom('audit_events').where('seq', '<=', lastSeq).execute();
    await db.deleteFrom('audit_checkpoints').where('seq', '<', lastSeq).execute();
    return summary;
  } catch (err) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed after a successful write
    }
    throw err;
  }
}

export interface ArchiveReport {
  ok: boolean;
  summary?: ArchiveSummary;
  problem?: string;
}

/** Checks an archive file on its own: every link, the line digest, and the signature. */
export async function verifyArchive(file: string, keys: KeyStore): Promise<ArchiveReport> {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const trailer = lines.pop();
  if (!trailer) return { ok: false, problem: 'the archive is empty' };
  let summary: ArchiveSummary;
  let signature: string;
  try {
    ({ poort_archive: summary, signature } = JSON.parse(trailer) as {
      poort_archive: ArchiveSummary;
      signature: string;
    });
  } catch {
    return { ok: false, problem: 'the last line is not an archive signature' };
  }
  const { kid } = decodeProtectedHeader(signature);
  const jwk = kid ? keys.verificationKey(kid) : undefined;
  if (!jwk) return { ok: false, summary, problem: `signed with an unknown key ${kid ?? ''}` };
  try {
    const { payload } = await compactVerify(signature, await importJWK(jwk, 'ES256'));
    if (new TextDecoder().decode(payload) !== canonicalize(summary))
      return { ok: false, summary, problem: 'the summary does not match its signature' };
  } catch {
    return { ok: false, summary, problem: 'the signature is invalid' };
  }
  const digest = crypto.createHash('sha256');
  let prev = summary.prev_hash;
  let expected = summary.first_seq;
  if (expected === 1 && prev !== GENESIS)
    return { ok: false, summary, problem: 'the first event does not start the chain' };
  for (const text of lines) {
    digest.update(`${text}\n`);
    const line = JSON.parse(text) as ArchiveLine;
    if (line.seq !== expected) return { ok: false, summary, problem: `event ${expected} is missing` };
    if (line.prev_hash !== prev || chainHash(prev, line.seq, line.event) !== line.hash) {
      return { ok: false, summary, problem: `event ${line.seq} was changed` };
    }
    prev = line.hash;
    expected += 1;
  }
  if (expected - 1 !== summary.last_seq || prev !== summary.last_hash)
    return { ok: false, summary, problem: 'events are missing at the end' };
  if (digest.digest('hex') !== summary.lines_sha256)
    return { ok: false, summary, problem: 'the lines do not match their digest' };
  return { ok: true, summary };
}
