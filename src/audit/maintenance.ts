import path from 'node:path';
import type { Logger } from '../log/logger.js';
import type { KeyStore } from '../keys/keystore.js';
import type { Db } from '../store/database.js';
import type { Lease } from '../store/lease.js';
import { archiveAndPrune, type ArchiveSummary } from './archive.js';
import type { AuditLog } from './log.js';

const DAY_MS = 86_400_000;

/**
 * The server's housekeeping of the trail: sign the head every `checkpointInterval` seconds while events arrive
 * (and once more at shutdown), and once a day archive and prune what is older than the retention period —
 * never past what every SIEM sink has delivered. Of several nodes, only the one holding `lease` (the one that ships
 * the trail) does either, so that one archive holds each pruned event and one checkpoint signs each head.
 */
export class AuditMaintenance {
  #checkpointTimer: NodeJS.Timeout | undefined;
  #retentionTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: AuditLog,
    private readonly db: Db,
    private readonly keys: KeyStore,
    private readonly settings: {
      checkpointInterval: number;
      retention: number;
      archiveDir: string;
      sinkNames: string[];
    },
    private readonly logger: Logger,
    private readonly lease?: Pick<Lease, 'hold'>,
  ) {}

  /** Whether this node does the housekeeping now: always without a lease. */
  async #mine(): Promise<boolean> {
    return this.lease ? this.lease.hold() : true;
  }

  start(): void {
    this.#checkpointTimer = setInterval(
      () => void this.checkpoint(),
      this.settings.checkpointInterval * 1000,
    );
    this.#checkpointTimer.unref();
    this.#retentionTimer = setInterval(() => void this.applyRetention(), DAY_MS);
    this.#retentionTimer.unref();
    void this.applyRetention();
  }

  async checkpoint(): Promise<void> {
    if (await this.#mine()) await this.#sign();
  }

  async #sign(): Promise<void> {
    try {
      await this.log.checkpoint();
    } catch (err) {
      this.logger.error({ err }, 'could not sign an audit checkpoint');
    }
  }

  async applyRetention(now = Date.now()): Promise<ArchiveSummary | undefined> {
    if (this.settings.retention <= 0 || !(await this.#mine())) return undefined;
    try {
      const cursors = await Promise.all(this.settings.sinkNames.map((name) => this.log.cursor(name)));
      const before = new Date(now - this.settings.retention * 1000).toISOString();
      const out = path.join(this.settings.archiveDir, `poort-audit-${before.replace(/[:.]/g, '-')}.jsonl`);
      const summary = await archiveAndPrune(this.log, this.db, this.keys, {
        before,
        out,
        ...(cursors.length ? { upTo: Math.min(...cursors) } : {}),
      });
      if (summary) {
        await this.log.append({
          action: 'audit.archived',
          outcome: 'success',
          actor: { type: 'system' },
          details: {
            first_seq: summary.first_seq,
            last_seq: summary.last_seq,
            count: summary.count,
            file: path.basename(out),
          },
        });
        this.logger.info(
          { event: 'audit.archived', count: summary.count, file: out },
          'audit events archived and pruned',
        );
      }
      return summary;
    } catch (err) {
      this.logger.error({ err }, 'audit retention failed');
      return undefined;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#checkpointTimer);
    clearInterval(this.#retentionTimer);
    // once more at shutdown on every node: a signature of the head is harmless twice, and the lease may be given up
    await this.#sign();
  }
}
