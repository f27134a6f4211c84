import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  type VerifiedAuthenticationResponse,
  type VerifiedRegistrationResponse,
} from '@simplewebauthn/server';
import type { Services } from '../../server/services.js';
import type {
  ChallengeContext,
  EnrolContext,
  EnrolResult,
  Enrolment,
  FactorCheck,
  FactorRecord,
  SecondFactor,
} from '../factor.js';
import { FactorError, type FactorWithSecret } from '../factors.js';

/** What is sealed: the credential's public key. */
export interface WebauthnSecret {
  credentialID: string;
  /** COSE public key, base64url */
  publicKey: string;
  transports: AuthenticatorTransportFuture[];
}

/** What changes on use: the signature counter (clone detection) and the backup flags the authenticator reports. */
export interface WebauthnState extends Record<string, unknown> {
  counter: number;
  backedUp: boolean;
  deviceType: string;
}

/** What the factor needs of Poort's services. */
export type WebauthnServices = Pick<Services, 'config' | 'kv' | 'factors'>;

/** Why a passkey sign-in failed, for the audit trail; the user is shown one message for all of them. */
export type PasskeyFailure =
  | 'expired'
  | 'malformed'
  | 'unknown_credential'
  | 'user_mismatch'
  | 'invalid_signature'
  | 'user_not_verified'
  | 'counter_regressed'
  | 'concurrent_use';

export type PasskeyCheck =
  { ok: true; factor: FactorRecord } | { ok: false; reason: PasskeyFailure; factor?: FactorRecord };

interface StoredChallenge {
  challenge: string;
  /** for a second factor: the one factor whose credential was asked for */
  factorId?: string;
}

const DEFAULT_NAME = 'Passkey';
const MAX_RESPONSE_LENGTH = 8192;

function parseJson<T>(text: string | undefined): T | undefined {
  if (!text || text.length > MAX_RESPONSE_LENGTH) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Passkeys and security keys (WebAuthn Level 3): a second factor after the password, and on its own a password-less
 * sign-in with a discoverable credential. Phishing-resistant because the browser binds every assertion to Poort's
 * origin. The relying party is the issuer's host name, so a credential works wherever Poort's pages are served.
 */
export class WebauthnFactor implements SecondFactor {
  readonly kind = 'webauthn' as const;
  readonly strength = 'phishing_resistant' as const;
  readonly amr = ['hwk', 'user'] as const;
  readonly enrolment: Enrolment;
  private readonly origin: string;
  private readonly rpID: string;

  constructor(private readonly services: WebauthnServices) {
    const issuer = new URL(services.config.server.issuer);
    this.origin = issuer.origin;
    this.rpID = issuer.hostname;
    this.enrolment = {
      begin: (ctx) => this.beginEnrolment(ctx),
      finish: (ctx, state, input) => this.finishEnrolment(ctx, state, input),
    };
  }

  /** Whether the sign-in page offers "Sign in with a passkey". */
  get passkeySignIn(): boolean {
    return this.services.config.mfa.webauthn.passkey_signin;
  }

  private get timeoutSeconds(): number {
    return this.services.config.mfa.webauthn.timeout;
  }

  private challengeKey(purpose: 'factor' | 'passkey', binding: string): string {
    return `webauthn:challenge:${purpose}:${binding}`;
  }

  /** Reads and deletes a stored challenge in one step: each one answers a single ceremony. */
  private async takeChallenge(key: string): Promise<StoredChallenge | undefined> {
    return this.services.kv.update<StoredChallenge, StoredChallenge | undefined>(key, (current) => ({
      value: undefined,
      result: current,
    }));
  }

  private async credentialsOf(
    userId: string,
  ): Promise<Array<FactorWithSecret<WebauthnSecret, WebauthnState>>> {
    const records = (await this.services.factors.list(userId)).filter((f) => f.kind === 'webauthn');
    const stored = await Promise.all(
      records.map((r) => this.services.factors.withSecret<WebauthnSecret, WebauthnState>(r.id)),
    );
    return stored.filter((s) => s !== undefined);
  }

  async challenge(ctx: ChallengeContext) {
    const stored = await this.services.factors.withSecret<WebauthnSecret, WebauthnState>(ctx.factor.id);
    if (!stored || stored.record.userId !== ctx.user.id || stored.record.kind !== 'webauthn')
      throw new Error(`factor ${ctx.factor.id} is not a WebAuthn credential of user ${ctx.user.id}`);
    const options = await generateAuthenticationOptions({
      rpID: this.rpID,
      // Only this factor's credential: an empty list would let the browser offer any passkey for Poort.
      allowCredentials: [{ id: stored.secret.credentialID, transports: stored.secret.transports }],
      userVerification: 'preferred',
      timeout: this.timeoutSeconds * 1000,
    });
    await this.services.kv.set(
      this.challengeKey('factor', ctx.binding),
      { challenge: options.challenge, factorId: ctx.factor.id } satisfies StoredChallenge,
      this.timeoutSeconds,
    );
    return { view: 'mfa/webauthn', vars: { factor: ctx.factor, webauthnOptions: JSON.stringify(options) } };
  }

  async verify(ctx: ChallengeContext, input: Record<string, string>): Promise<FactorCheck> {
    const expected = await this.takeChallenge(this.challengeKey('factor', ctx.binding));
    // A challenge that expired (or was for another factor) reads as a failed answer: the page offers a fresh one.
    if (!expected || expected.factorId !== ctx.factor.id) return { ok: false, reason: 'invalid_response' };
    const response = parseJson<AuthenticationResponseJSON>(input.credential);
    if (!response) return { ok: false, reason: 'invalid_response' };
    const stored = await this.services.factors.withSecret<WebauthnSecret, WebauthnState>(ctx.factor.id);
    if (!stored || stored.record.userId !== ctx.user.id || stored.record.kind !== 'webauthn')
      return { ok: false, reason: 'not_enrolled' };
    // Only the credential of the factor that was asked for: another user's passkey (or another of this user's)
    // cannot answer for it.
    if (response.id !== stored.secret.credentialID || response.rawId !== stored.secret.credentialID)
      return { ok: false, reason: 'invalid_response' };
    const result = await this.assert(stored, response, expected.challenge, false);
    if (!result.ok) return { ok: false, reason: 'invalid_response' };
    return { ok: true, factor: stored.record, amr: [...this.amr], strength: this.strength };
  }

  /** Options for a password-less sign-in: any discoverable credential for Poort, with user verification. */
  async passkeyOptions(binding: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const options = await generateAuthenticationOptions({
      rpID: this.rpID,
      allowCredentials: [],
      userVerification: 'required',
      timeout: this.timeoutSeconds * 1000,
    });
    await this.services.kv.set(
      this.challengeKey('passkey', binding),
      { challenge: options.challenge } satisfies StoredChallenge,
      this.timeoutSeconds,
    );
    return options;
  }

  /**
   * Checks a password-less sign-in: the credential names its factor (and so its user); the authenticator must have
   * verified the user (PIN or biometrics), which makes the passkey a multi-factor sign-in on its own.
   */
  async verifyPasskey(binding: string, credential: string): Promise<PasskeyCheck> {
    const expected = await this.takeChallenge(this.challengeKey('passkey', binding));
    if (!expected) return { ok: false, reason: 'expired' };
    const response = parseJson<AuthenticationResponseJSON>(credential);
    if (!response || typeof response.id !== 'string' || response.id !== response.rawId)
      return { ok: false, reason: 'malformed' };
    const stored = await this.services.factors.findByLookup<WebauthnSecret, WebauthnState>(
      'webauthn',
      response.id,
    );
    if (!stored) return { ok: false, reason: 'unknown_credential' };
    // The user handle the authenticator keeps with a discoverable credential is the user id given at enrolment.
    const handle = response.response?.userHandle;
    if (handle !== undefined && handle !== Buffer.from(stored.record.userId).toString('base64url'))
      return { ok: false, reason: 'user_mismatch', factor: stored.record };
    const result = await this.assert(stored, response, expected.challenge, true);
    if (!result.ok) return { ok: false, reason: result.reason, factor: stored.record };
    return { ok: true, factor: stored.record };
  }

  /**
   * Verifies an assertion against a stored credential and moves its signature counter on. An authenticator that
   * counts must count up: a counter at or below the stored one means a copy of the key signed meanwhile (or now).
   */
  private async assert(
    stored: FactorWithSecret<WebauthnSecret, WebauthnState>,
    response: AuthenticationResponseJSON,
    expectedChallenge: string,
    requireUserVerification: boolean,
  ): Promise<
    | { ok: true }
    | {
        ok: false;
        reason: 'invalid_signature' | 'counter_regressed' | 'concurrent_use' | 'user_not_verified';
      }
  > {
    const storedCounter = stored.state.counter ?? 0;
    let verification: VerifiedAuthenticationResponse;
    try {
      verification = await verifyAuthenticationResponse({
        response,
        expectedChallenge,
        expectedOrigin: this.origin,
        expectedRPID: this.rpID,
        // The counter is compared below, where a regression can be told apart from a bad signature.
        credential: {
          id: stored.secret.credentialID,
          publicKey: Buffer.from(stored.secret.publicKey, 'base64url'),
          counter: 0,
          transports: stored.secret.transports,
        },
        requireUserVerification,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : '';
      return {
        ok: false,
        reason: /user could not be verified/i.test(message) ? 'user_not_verified' : 'invalid_signature',
      };
    }
    if (!verification.verified) return { ok: false, reason: 'invalid_signature' };
    const info = verification.authenticationInfo;
    if (storedCounter > 0 && info.newCounter <= storedCounter)
      return { ok: false, reason: 'counter_regressed' };
    const moved = await this.services.factors.recordUse(stored.record.id, stored.stateText, {
      ...stored.state,
      counter: info.newCounter,
      backedUp: info.credentialBackedUp,
      deviceType: info.credentialDeviceType,
    });
    return moved ? { ok: true } : { ok: false, reason: 'concurrent_use' };
  }

  private async beginEnrolment(ctx: EnrolContext) {
    const existing = await this.credentialsOf(ctx.user.id);
    const options = await generateRegistrationOptions({
      rpName: this.services.config.mfa.webauthn.rp_name ?? ctx.organisation,
      rpID: this.rpID,
      userName: ctx.user.username,
      userDisplayName: ctx.user.name ?? ctx.user.username,
      userID: new Uint8Array(Buffer.from(ctx.user.id)),
      timeout: this.timeoutSeconds * 1000,
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({
        id: c.secret.credentialID,
        transports: c.secret.transports,
      })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    });
    return {
      view: 'enrol/webauthn',
      vars: { action: ctx.action, csrf: ctx.csrf, webauthnOptions: JSON.stringify(options) },
      state: options.challenge,
    };
  }

  private async finishEnrolment(
    ctx: EnrolContext,
    state: unknown,
    input: Record<string, string>,
  ): Promise<EnrolResult> {
    if (typeof state !== 'string' || !state) return { ok: false, reason: 'expired' };
    const response = parseJson<RegistrationResponseJSON>(input.credential);
    if (!response) return { ok: false, reason: 'invalid_response' };
    let verification: VerifiedRegistrationResponse;
    try {
      verification = await verifyRegistrationResponse({
        response,
        expectedChallenge: state,
        expectedOrigin: this.origin,
        expectedRPID: this.rpID,
        // As a second factor the key alone is enough; a password-less sign-in asks for verification each time.
        requireUserVerification: false,
      });
    } catch {
      return { ok: false, reason: 'invalid_response' };
    }
    if (!verification.verified) return { ok: false, reason: 'invalid_response' };
    const info = verification.registrationInfo;
    const { credential } = info;
    try {
      const factor = await this.services.factors.add({
        userId: ctx.user.id,
        kind: 'webauthn',
        name: input.name?.trim() || DEFAULT_NAME,
        secret: {
          credentialID: credential.id,
          publicKey: Buffer.from(credential.publicKey).toString('base64url'),
          transports: credential.transports ?? [],
        } satisfies WebauthnSecret,
        lookup: credential.id,
        state: {
          counter: credential.counter,
          backedUp: info.credentialBackedUp,
          deviceType: info.credentialDeviceType,
        } satisfies WebauthnState,
      });
      return { ok: true, factor };
    } catch (err) {
      if (err instanceof FactorError && err.code === 'exists') return { ok: false, reason: 'exists' };
      throw err;
    }
  }
}
