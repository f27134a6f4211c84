import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { ClientRepository } from '../clients/clients.js';
import type { BatchOp, KeyValueStore } from '../store/kv.js';
import { SIGNED_OUT_REASON } from './step-up.js';

const key = (model: string, id: string) => `oidc:${model}:${id}`;
/** The single sign-on sessions of an account: the keys of its Session records (see accountSessions). */
const accountIndex = (accountId: string) => `oidc:account:${accountId}`;
const grantIndex = (grantId: string) => `oidc:grant:${grantId}`;
const uidKey = (uid: string) => `oidc:uid:${uid}`;
const userCodeKey = (userCode: string) => `oidc:user_code:${userCode}`;

/**
 * oidc-provider's storage on Poort's key-value store. Clients come from the durable client repository, read on every
 * lookup, so a client added or removed with the CLI takes effect at once. `consume` is a compare-and-set: when two
 * requests race to use one code or refresh token, the loser sees the reuse, the grant is revoked and it gets invalid_grant.
 */
export class OidcAdapter implements Adapter {
  constructor(
    private readonly name: string,
    private readonly kv: KeyValueStore,
    private readonly clients: ClientRepository,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    if (this.name === 'Interaction' && beginsAfterSignOut(payload))
      payload = { ...payload, session: undefined, grantId: undefined };
    const ttlSeconds = expiresIn > 0 ? expiresIn : undefined;
    const ops: BatchOp[] = [{ op: 'set', key: key(this.name, id), value: payload, ttlSeconds }];
    if (payload.grantId)
      ops.push({
        op: 'indexAdd',
        index: grantIndex(payload.grantId),
        member: key(this.name, id),
        ttlSeconds,
      });
    if (payload.uid) ops.push({ op: 'set', key: uidKey(payload.uid), value: id, ttlSeconds });
    if (this.name === 'Session' && payload.accountId)
      ops.push({
        op: 'indexAdd',
        index: accountIndex(payload.accountId),
        member: key(this.name, id),
        ttlSeconds,
      });
    if (payload.userCode) ops.push({ op: 'set', key: userCodeKey(payload.userCode), value: id, ttlSeconds });
    await (ops.length === 1 ? this.kv.set(key(this.name, id), payload, ttlSeconds) : this.kv.batch(ops));
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    if (this.name === 'Client') return (await this.clients.metadata(id)) as AdapterPayload | undefined;
    return this.kv.get<AdapterPayload>(key(this.name, id));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = await this.kv.get<string>(uidKey(uid));
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = await this.kv.get<string>(userCodeKey(userCode));
    return id ? this.find(id) : undefined;
  }

  async consume(id: string): Promise<void> {
    const outcome = await this.kv.update<AdapterPayload, { ok: boolean; grantId?: string }>(
      key(this.name, id),
      (current, now) => {
        // Gone since oidc-provider read it: revoked by the loser of a race (or expired). Not a win either.
        if (!current) return { value: undefined, result: { ok: false } };
        if (current.consumed) return { value: current, result: { ok: false, grantId: current.grantId } };
        return { value: { ...current, consumed: Math.floor(now / 1000) }, result: { ok: true } };
      },
    );
    if (!outcome.ok) {
      // The grant record goes too, as when oidc-provider sees the reuse itself: the winner of the race may save its
      // new tokens after this revocation, and tokens of a grant that no longer exists are refused everywhere.
      if (outcome.grantId) {
        await Promise.all([
          this.revokeByGrantId(outcome.grantId),
          this.kv.delete(key('Grant', outcome.grantId)),
        ]);
      }
      throw new errors.InvalidGrant('grant request is invalid');
    }
  }

  async destroy(id: string): Promise<void> {
    await this.kv.delete(key(this.name, id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.kv.deleteIndexed(grantIndex(grantId));
  }
}

/**
 * Whether an interaction asks for a new sign-in because the browser's session is from before its person was signed
 * out everywhere. Such an interaction is tied neither to that session nor to the application's grant in it: the
 * sign-out's follower (EndedEverywhereSink, on any node) ends both, perhaps while the person types their password,
 * and the new sign-in would fail once — revoking the grant deletes what is indexed under it, this interaction too,
 * and oidc-provider refuses an interaction whose session has gone. Untied, it goes on as a sign-in in a browser
 * without a session; at its end oidc-provider signs the person in to whichever session the browser has then.
 */
function beginsAfterSignOut(payload: AdapterPayload): boolean {
  const reasons = (payload.prompt as { reasons?: string[] } | undefined)?.reasons;
  return payload.session !== undefined && reasons?.includes(SIGNED_OUT_REASON) === true;
}

/** What a stored single sign-on session says of itself. */
export interface StoredSession {
  uid: string;
  accountId: string;
  /** when the person signed in (epoch seconds) */
  loginTs?: number;
}

/** The live single sign-on sessions of an account, on every node (the adapter indexes them as they are saved). */
export async function accountSessions(kv: KeyValueStore, accountId: string): Promise<StoredSession[]> {
  const sessions: StoredSession[] = [];
  for (const k of await kv.indexedKeys(accountIndex(accountId))) {
    const payload = await kv.get<StoredSession>(k);
    // gone since (ended, expired), or another account's since a sign-in as someone else in the same browser
    if (payload?.uid && payload.accountId === accountId) sessions.push(payload);
  }
  return sessions;
}
