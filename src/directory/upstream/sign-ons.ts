import crypto from 'node:crypto';
import type { AuditLog } from '../../audit/log.js';
import type { Logger } from '../../log/logger.js';
import { takeOnce, type KeyValueStore } from '../../store/kv.js';
import { UpstreamUnavailableError } from './client.js';
import type { UpstreamDirectory } from './directory.js';

/** How long the provider may take to send the browser back after signing it out. */
const SIGN_OUT_SECONDS = 600;

/** A sign-in at a provider that signs out with Poort, kept for the single sign-on session it became. */
interface SignOn {
  provider: string;
  /** the provider's ID token of that sign-in: the hint its end_session_endpoint wants */
  idToken: string;
  /** the Poort user it signed in */
  accountId: string;
}

interface SigningOut {
  provider: string;
  /** where the browser goes once the provider sends it back: where Poort's logout would have sent it */
  location: string;
}

/**
 * Signing out at the upstream providers whose `sign_out` is on. A sign-in there is remembered for the pending
 * sign-in (`remember`), then for the single sign-on session it became (`adopt`, at oidc-provider's resume); when
 * that session is logged out, the browser goes to the provider's end_session_endpoint on its way to where Poort's
 * logout was sending it (`afterLogout`), and comes back through `returned`.
 */
export class UpstreamSignOns {
  constructor(
    private readonly upstream: UpstreamDirectory,
    private readonly kv: KeyValueStore,
    private readonly ttl: { interaction: number; session: number },
    private readonly audit: AuditLog,
    private readonly log: Logger,
  ) {}

  private pendingKey = (interactionUid: string) => `upstream-signon-pending:${interactionUid}`;
  private sessionKey = (sessionUid: string) => `upstream-signon:${sessionUid}`;
  private signingOutKey = (state: string) => `upstream-signout:${state}`;

  /** A pending sign-in came back from `provider` as `accountId`; only kept where that provider signs out with Poort. */
  async remember(interactionUid: string, signOn: SignOn): Promise<void> {
    if (!this.upstream.signsOut(signOn.provider)) return;
    await this.kv.set(this.pendingKey(interactionUid), signOn, this.ttl.interaction);
  }

  /**
   * A sign-in finished in the single sign-on session `sessionUid`: the session takes over what its interaction
   * remembered. Another user's sign-in in the same session drops what an earlier one left; the same user's later
   * sign-in (a step-up) keeps it.
   */
  async adopt(interactionUid: string, sessionUid: string, accountId: string): Promise<void> {
    const pending = await takeOnce<SignOn>(this.kv, this.pendingKey(interactionUid));
    if (pending && pending.accountId === accountId) {
      await this.kv.set(this.sessionKey(sessionUid), pending, this.ttl.session);
      return;
    }
    const kept = await this.kv.get<SignOn>(this.sessionKey(sessionUid));
    if (kept && kept.accountId !== accountId) await this.kv.delete(this.sessionKey(sessionUid));
  }

  /**
   * The single sign-on session `sessionUid` was logged out, and the browser is about to go to `location` (or where
   * that function says, asked only when needed): where it should go first instead (the provider's
   * end_session_endpoint), if anywhere. Where the provider cannot be asked, Poort's own logout still stands and the
   * browser goes on; the trail and the log say so.
   */
  async afterLogout(
    sessionUid: string,
    location: string | (() => Promise<string>),
  ): Promise<string | undefined> {
    const signOn = await takeOnce<SignOn>(this.kv, this.sessionKey(sessionUid));
    if (!signOn || !this.upstream.signsOut(signOn.provider)) return undefined;
    const state = crypto.randomBytes(24).toString('base64url');
    const event = {
      action: 'logout.upstream' as const,
      actor: { type: 'user' as const, id: signOn.accountId },
      subject: { id: signOn.accountId },
    };
    let url: URL;
    try {
      url = await this.upstream.endSessionUrl(signOn.provider, signOn.idToken, state);
    } catch (err) {
      if (!(err instanceof UpstreamUnavailableError)) throw err;
      this.log.warn({ err, provider: signOn.provider }, 'could not sign out at an upstream provider');
      await this.audit.append({
        ...event,
        outcome: 'failure',
        details: { provider: signOn.provider, reason: 'upstream_unavailable' },
      });
      return undefined;
    }
    await this.kv.set(
      this.signingOutKey(state),
      {
        provider: signOn.provider,
        location: typeof location === 'string' ? location : await location(),
      } satisfies SigningOut,
      SIGN_OUT_SECONDS,
    );
    await this.audit.append({ ...event, outcome: 'success', details: { provider: signOn.provider } });
    return url.href;
  }

  /** The provider sent the browser back with `state`: where it was going (once), or undefined for a stray one. */
  async returned(provider: string, state: string): Promise<string | undefined> {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(state)) return undefined;
    const signingOut = await takeOnce<SigningOut>(this.kv, this.signingOutKey(state));
    return signingOut?.provider === provider ? signingOut.location : undefined;
  }
}
