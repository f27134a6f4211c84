import type { KeyValueStore } from '../store/kv.js';

/**
 * Single sign-on sessions that a logout ended, by the `sid` their ID tokens gave to Poort's own clients (the account
 * pages, the administration console). Those keep sessions of their own after the sign-in; each visit asks here, so
 * signing out of Poort also ends them, on every node.
 */
export class EndedSignOns {
  constructor(private readonly kv: KeyValueStore) {}

  /** Remembers the sids for `seconds`: as long as a session of the clients that got them can last. */
  async end(sids: readonly string[], seconds: number): Promise<void> {
    await Promise.all(sids.map((sid) => this.kv.set(`sso-ended:${sid}`, true, seconds)));
  }

  async ended(sid: string): Promise<boolean> {
    return (await this.kv.get<boolean>(`sso-ended:${sid}`)) === true;
  }
}
