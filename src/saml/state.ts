import crypto from 'node:crypto';
import type { Requirement } from '../mfa/strength.js';
import type { RequestedAuthnContext } from './authn-context.js';
import type { KeyValueStore } from '../store/kv.js';
import { CLOCK_SKEW_SECONDS, MAX_REQUEST_AGE_SECONDS } from './inbound.js';

/** A validated AuthnRequest (or an IdP-initiated sign-in) waiting for the sign-in to finish. */
export interface PendingSso {
  entityId: string;
  acsUrl: string;
  /** absent for IdP-initiated SSO */
  requestId?: string;
  relayState?: string;
  requirement: Requirement;
  /** the classes the SP asked for, to report one of them */
  requestedAuthnContext?: RequestedAuthnContext;
  forceAuthn: boolean;
  isPassive: boolean;
  nonce: string;
  verifier: string;
  /** epoch seconds: with ForceAuthn the sign-in must be newer */
  startedAt: number;
}

/** What a SessionIndex stands for: whom an SP was told signed in, within which single sign-on session. */
export interface SamlSession {
  sessionIndex: string;
  entityId: string;
  userId: string;
  nameId: { format: string; value: string };
  /** oidc-provider's session uid, to end it on SAML logout */
  oidcSession?: string;
  createdAt: number;
}

/**
 * A logout being carried to the SAML service providers of an ended session, one browser redirect at a time: each SP
 * gets a LogoutRequest and answers with a LogoutResponse carrying the chain's id as RelayState.
 */
export interface LogoutChain {
  remaining: SamlSession[];
  /** where the browser goes at the end: a URL (OIDC logout), or the LogoutResponse owed to the SP that began it */
  final: { location: string } | { entityId: string; inResponseTo: string; relayState?: string };
  /** the LogoutRequest Poort sent last and whose LogoutResponse the chain waits for */
  awaiting?: { entityId: string; requestId: string };
}

const hash = (value: string) => crypto.createHash('sha256').update(value).digest('base64url');

/** SAML's ephemeral state in the key-value store, so that every node sees it (Redis for several nodes). */
export class SamlState {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly settings: { pendingSeconds: number; sessionSeconds: number },
  ) {}

  /**
   * Records a request ID as seen; false when it was seen before (a replay). Kept as long as the request could pass
   * the IssueInstant check, after which the check refuses it anyway.
   */
  async claimRequestId(entityId: string, requestId: string): Promise<boolean> {
    return this.kv.update<number, boolean>(`saml:seen:${hash(`${entityId}|${requestId}`)}`, (current) =>
      current !== undefined
        ? { value: current, result: false }
        : { value: 1, ttlSeconds: MAX_REQUEST_AGE_SECONDS + 2 * CLOCK_SKEW_SECONDS, result: true },
    );
  }

  async savePending(pending: PendingSso): Promise<string> {
    const id = crypto.randomBytes(24).toString('base64url');
    await this.kv.set(`saml:pending:${id}`, pending, this.settings.pendingSeconds);
    return id;
  }

  /** The pending request for a state, once. */
  async takePending(id: string): Promise<PendingSso | undefined> {
    if (!/^[A-Za-z0-9_-]{32}$/.test(id)) return undefined;
    return this.kv.update<PendingSso, PendingSso | undefined>(`saml:pending:${id}`, (current) => ({
      value: undefined,
      result: current,
    }));
  }

  async saveSession(session: SamlSession): Promise<void> {
    const ttl = this.settings.sessionSeconds;
    await this.kv.set(`saml:session:${session.sessionIndex}`, session, ttl);
    if (session.oidcSession)
      await this.kv.update<string[], void>(`saml:oidc-session:${session.oidcSession}`, (current) => ({
        value: [...(current ?? []).slice(-99), session.sessionIndex],
        ttlSeconds: ttl,
        result: undefined,
      }));
  }

  async findSession(sessionIndex: string): Promise<SamlSession | undefined> {
    if (!/^_[0-9a-f]{40}$/.test(sessionIndex)) return undefined;
    return this.kv.get<SamlSession>(`saml:session:${sessionIndex}`);
  }

  /** Every SAML session of one single sign-on session, removed: they all end with it. */
  async takeSessionsOf(oidcSession: string): Promise<SamlSession[]> {
    const indexes = await this.kv.update<string[], string[]>(
      `saml:oidc-session:${oidcSession}`,
      (current) => ({
        value: undefined,
        result: current ?? [],
      }),
    );
    const sessions: SamlSession[] = [];
    for (const index of indexes) {
      const session = await this.kv.get<SamlSession>(`saml:session:${index}`);
      if (session) sessions.push(session);
      await this.kv.delete(`saml:session:${index}`);
    }
    return sessions;
  }

  async saveChain(chain: LogoutChain): Promise<string> {
    const id = crypto.randomBytes(24).toString('base64url');
    await this.kv.set(`saml:chain:${id}`, chain, this.settings.pendingSeconds);
    return id;
  }

  /** Takes the next SP session of a chain: `next` undefined when it is done (the chain is then gone). */
  async nextInChain(id: string): Promise<{ chain: LogoutChain; next: SamlSession | undefined } | undefined> {
    if (!/^[A-Za-z0-9_-]{32}$/.test(id)) return undefined;
    return this.kv.update<LogoutChain, { chain: LogoutChain; next: SamlSession | undefined } | undefined>(
      `saml:chain:${id}`,
      (current) => {
        if (!current) return { value: undefined, result: undefined };
        const [next, ...rest] = current.remaining;
        return next
          ? { value: { ...current, remaining: rest }, result: { chain: current, next } }
          : { value: undefined, result: { chain: current, next: undefined } };
      },
    );
  }

  /** Records the LogoutRequest just sent to the chain's current SP: only its LogoutResponse moves the chain on. */
  async awaitResponse(id: string, awaiting: { entityId: string; requestId: string }): Promise<void> {
    await this.kv.update<LogoutChain, void>(`saml:chain:${id}`, (current) => ({
      value: current && { ...current, awaiting },
      result: undefined,
    }));
  }

  /**
   * Whether a LogoutResponse from `entityId` answering `inResponseTo` is the one the chain waits for; it is then no
   * longer awaited, so the same response cannot be played twice.
   */
  async takeAwaited(id: string, entityId: string, inResponseTo: string): Promise<boolean> {
    if (!/^[A-Za-z0-9_-]{32}$/.test(id)) return false;
    return this.kv.update<LogoutChain, boolean>(`saml:chain:${id}`, (current) => {
      const awaited = current?.awaiting;
      if (!current || !awaited || awaited.entityId !== entityId || awaited.requestId !== inResponseTo)
        return { value: current, result: false };
      const { awaiting: _answered, ...rest } = current;
      return { value: rest, result: true };
    });
  }

  async endSession(sessionIndex: string): Promise<void> {
    await this.kv.delete(`saml:session:${sessionIndex}`);
  }
}
