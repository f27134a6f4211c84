import { acrFor, strengthOfAcr, type AcrValues, type Strength } from '../mfa/strength.js';
import type { KeyValueStore } from '../store/kv.js';

/** What oidc-provider's session tells of its last sign-in. */
export interface SessionLogin {
  uid: string;
  accountId?: string | undefined;
  acr?: string | undefined;
  /** epoch seconds */
  loginTs?: number | undefined;
}

/** What the sign-in pages hand oidc-provider (interactionFinished) beside `login`. */
export interface LoginResult {
  /** the second factor's strength; absent for a password-only sign-in */
  strength?: Strength;
}

interface Kept {
  accountId: string;
  loginTs: number;
  strength: Strength;
}

/**
 * The strength of the second factor a single sign-on session's last sign-in used.
 *
 * oidc-provider's session keeps the acr, and the multi-factor acr stands for TOTP as much as for a code by e-mail or
 * SMS (their amr is `otp` alike). Read from the acr alone, a session signed in with TOTP would not satisfy a policy
 * asking for TOTP, and the user would be asked again at every single sign-on. So where the acr says less than the
 * factor did, the strength is kept beside the session, by its uid, for as long as a session lives. It is bound to the
 * sign-in it came from (account and time): a later sign-in in the same session never inherits it.
 */
export class SessionStrengths {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly acr: AcrValues,
    private readonly ttlSeconds: number,
  ) {}

  private key(uid: string): string {
    return `session:strength:${uid}`;
  }

  /** A sign-in with a second factor of `strength` was just written into the session. */
  async signedIn(session: SessionLogin, strength: Strength | undefined): Promise<void> {
    if (strength === undefined || !session.accountId || session.loginTs === undefined) return;
    if (strengthOfAcr(acrFor(strength, this.acr), this.acr) === strength) return; // the acr says it all
    const kept: Kept = { accountId: session.accountId, loginTs: session.loginTs, strength };
    await this.kv.set(this.key(session.uid), kept, this.ttlSeconds);
  }

  /** The strength the session's last sign-in showed; undefined for a password-only sign-in. */
  async of(session: SessionLogin): Promise<Strength | undefined> {
    const fromAcr = strengthOfAcr(session.acr, this.acr);
    if (fromAcr !== 'otp') return fromAcr; // only the multi-factor acr leaves the factor open
    const kept = await this.kv.get<Kept>(this.key(session.uid));
    if (!kept || kept.accountId !== session.accountId || kept.loginTs !== session.loginTs) return fromAcr;
    return kept.strength;
  }
}
