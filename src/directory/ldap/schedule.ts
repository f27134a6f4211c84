import type { Logger } from '../../log/logger.js';
import type { KeyValueStore } from '../../store/kv.js';
import type { LdapSync } from './sync.js';

const TURN_KEY = 'ldap-sync:turn';

/**
 * Runs the LDAP sync every `intervalSeconds` on one node of several: each round is claimed in the shared key-value
 * store first, for a little less than the interval, so that the next round is free to be claimed again.
 */
export class LdapSyncSchedule {
  #timer?: NodeJS.Timeout;
  #running?: Promise<void>;

  constructor(
    private readonly sync: LdapSync,
    private readonly kv: KeyValueStore,
    private readonly intervalSeconds: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.intervalSeconds <= 0) return;
    this.#timer = setInterval(() => {
      this.#running ??= this.round().finally(() => (this.#running = undefined));
    }, this.intervalSeconds * 1000);
    this.#timer.unref();
  }

  /** One round, if no node has claimed it; errors are logged (the next round tries again). */
  async round(): Promise<void> {
    try {
      const hold = Math.max(1, Math.floor(this.intervalSeconds * 0.9));
      const mine = await this.kv.update<number, boolean>(TURN_KEY, (current, now) =>
        current === undefined
          ? { value: now, ttlSeconds: hold, result: true }
          : { value: current, result: false },
      );
      if (!mine) return;
      const report = await this.sync.run();
      this.log.info(
        {
          event: 'ldap.synced',
          entries: report.entries,
          checked: report.checked,
          updated: report.updated.length,
          disabled: report.disabled.length,
          conflicts: report.conflicts.length,
          unusable: report.unusable.length,
        },
        'LDAP users checked against the directory',
      );
    } catch (err) {
      this.log.warn({ err }, 'the LDAP sync failed; the next round tries again');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
