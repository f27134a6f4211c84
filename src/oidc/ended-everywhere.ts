import type Provider from 'oidc-provider';
import type { AuditEvent, StoredAuditEvent } from '../audit/event.js';
import type { AuditLog } from '../audit/log.js';
import type { Sink } from '../audit/sinks/sink.js';
import type { UserRecord } from '../directory/users.js';
import type { Logger } from '../log/logger.js';
import type { KeyValueStore } from '../store/kv.js';
import { accountSessions, type StoredSession } from './adapter.js';
import { endOidcSession } from './end-session.js';
import { ENDED_EVERYWHERE_SINK } from './ended-everywhere-sink.js';

/** How long a sign-out followed and a session ended are remembered, so that no other node does so again. */
const CLAIM_SECONDS = 24 * 3600;

const claimKey = (kind: 'event' | 'session', id: string) => `oidc-sessions-ended:${kind}:${id}`;

/**
 * Whether an event ended every session of its subject from before it: a sign-out everywhere (the account page, the
 * console, `poort user sign-out`), a password change or reset that signed out everywhere, a leaver disabled (the
 * CLI, the console, SCIM, the LDAP sync) or removed.
 */
export function endsEverySession(event: AuditEvent): boolean {
  if (event.outcome !== 'success' || !event.subject?.id) return false;
  if (event.action === 'user.disabled' || event.action === 'user.removed') return true;
  const details = event.details ?? {};
  return details.everywhere === true || details.signed_out_everywhere === true;
}

/**
 * Whether a session is one that `cause` (see endsEverySession) ended: its sign-in came before it. Sign-in times are
 * whole seconds, and a sign-out everywhere also ends the sign-ins of its own second (`UserRepository.endSessions`).
 * The event is enough: the change it records may not be stored yet when the sink reads it (the account page records
 * first), and a later sign-in of a re-enabled account is not ended.
 */
export function sessionEnded(
  session: Pick<StoredSession, 'loginTs'>,
  cause: Pick<AuditEvent, 'time'>,
): boolean {
  return session.loginTs === undefined || session.loginTs * 1000 <= Date.parse(cause.time);
}

export interface EndedEverywhereDeps {
  provider: () => Provider;
  users: { findById(id: string): Promise<UserRecord | undefined> };
  /** shared by every node: a session claimed here is not ended by another */
  kv: KeyValueStore;
  audit: AuditLog;
  log: Logger;
}

/**
 * Tells the applications when someone is signed out everywhere. Poort stops honouring that person's sessions and
 * tokens at once (`UserRepository.endSessions`, a disabled or removed account), but an application keeps its own
 * session for as long as it likes; those that registered a back-channel logout URI now get a logout token for each
 * of the person's single sign-on sessions from before, as when the person signs out at the logout endpoint, and the
 * sessions go with their grants.
 *
 * It reads the audit trail as a sink does, from a durable cursor, so that a sign-out by the CLI (another process)
 * or by SCIM or the LDAP sync is followed too, and none is lost while Poort is down. Every node ships the trail: a
 * sign-out and each session are claimed in the shared key-value store first, so only one node tells the applications.
 * Each sign-out that ended sessions is recorded as `logout.backchannel`.
 */
export class EndedEverywhereSink implements Sink {
  readonly name = ENDED_EVERYWHERE_SINK;
  readonly batchSize = 200;

  constructor(private readonly deps: EndedEverywhereDeps) {}

  async deliver(batch: StoredAuditEvent[]): Promise<void> {
    const accounts = new Map<string, AuditEvent>();
    for (const { event } of batch) if (endsEverySession(event)) accounts.set(event.subject!.id!, event);
    for (const [accountId, event] of accounts) await this.#end(accountId, event);
  }

  /** One node follows each sign-out, so that it is recorded once; another takes it over if this one fails. */
  async #end(accountId: string, cause: AuditEvent): Promise<void> {
    if (!(await this.#claim(claimKey('event', cause.id)))) return;
    try {
      await this.#endSessions(accountId, cause);
    } catch (err) {
      await this.deps.kv.delete(claimKey('event', cause.id));
      throw err;
    }
  }

  async #endSessions(accountId: string, cause: AuditEvent): Promise<void> {
    const { kv, log } = this.deps;
    const user = await this.deps.users.findById(accountId);
    const notified = new Set<string>();
    const failed = new Set<string>();
    let ended = 0;
    for (const session of await accountSessions(kv, accountId)) {
      // a session is ended once, whichever sign-outs of the person came close together
      if (!sessionEnded(session, cause) || !(await this.#claim(claimKey('session', session.uid)))) continue;
      let result;
      try {
        result = await endOidcSession(this.deps.provider(), session.uid, log);
      } catch (err) {
        // the batch is tried again, here or on another node
        await kv.delete(claimKey('session', session.uid));
        throw err;
      }
      if (!result) continue;
      ended++;
      for (const clientId of result.notified) notified.add(clientId);
      for (const clientId of result.failed) failed.add(clientId);
    }
    if (ended === 0) return;
    await this.deps.audit.append({
      action: 'logout.backchannel',
      outcome: failed.size > 0 ? 'failure' : 'success',
      ...(failed.size > 0 ? { reason: 'not_delivered' } : {}),
      actor: { type: 'system', name: 'poort' },
      subject: { id: accountId, ...(user ? { username: user.username } : {}) },
      details: {
        cause: { id: cause.id, action: cause.action },
        sessions: ended,
        notified: [...notified].sort(),
        ...(failed.size > 0 ? { failed: [...failed].sort() } : {}),
      },
    });
    log.info(
      { event: 'logout.backchannel', user: accountId, sessions: ended, notified: [...notified] },
      'ended the sessions of a user signed out everywhere and told their applications',
    );
  }

  async #claim(key: string): Promise<boolean> {
    return this.deps.kv.update<number, boolean>(key, (current, now) =>
      current === undefined
        ? { value: now, ttlSeconds: CLAIM_SECONDS, result: true }
        : { value: current, result: false },
    );
  }

  async close(): Promise<void> {
    // holds nothing between batches
  }
}
