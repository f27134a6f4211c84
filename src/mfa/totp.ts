import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';
import type { ChallengeContext, EnrolContext, Enrolment, FactorCheck, SecondFactor } from './factor.js';
import type { FactorRepository } from './factors.js';

interface TotpState extends Record<string, unknown> {
  /** the time step of the last accepted code: it and every earlier one are refused (no replay) */
  last_step?: number;
}

/** A new random seed (20 bytes, base32), as authenticator apps expect. */
export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

export function totpUri(secret: string, issuer: string, account: string): string {
  return generateURI({ issuer, label: account, secret });
}

/** The otpauth:// URI as an SVG QR code, inline as a data: URI so the page needs no script and no extra request. */
export async function totpQrCode(uri: string): Promise<string> {
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

/** Checks a code against a seed with one step of clock drift either way; returns the time step it belongs to. */
export async function checkTotp(
  secret: string,
  code: string,
  afterTimeStep?: number,
): Promise<{ valid: boolean; timeStep?: number }> {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return { valid: false };
  try {
    const result = await verify({
      secret,
      token,
      epochTolerance: 30,
      ...(afterTimeStep !== undefined ? { afterTimeStep } : {}),
    });
    // The functional API types TOTP and HOTP results together; a TOTP result carries its time step.
    return result.valid && 'timeStep' in result
      ? { valid: true, timeStep: result.timeStep }
      : { valid: false };
  } catch {
    return { valid: false };
  }
}

/** The key as people copy it into an app by hand: groups of four characters. */
export function groupKey(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

/** What an enrolment keeps server-side between showing the QR code and checking the first code. */
interface TotpEnrolmentState {
  secret: string;
}

function isEnrolmentState(state: unknown): state is TotpEnrolmentState {
  return typeof (state as TotpEnrolmentState | undefined)?.secret === 'string';
}

/** Time-based one-time passwords (RFC 6238) from an authenticator app or a hardware OATH token. */
export class TotpFactor implements SecondFactor {
  readonly kind = 'totp' as const;
  readonly strength = 'totp' as const;
  readonly amr = ['otp'] as const;

  constructor(private readonly factors: FactorRepository) {}

  /**
   * A new seed shown as a QR code and as text; the first code from the app proves it was copied right. That code's
   * time step is stored as used, so the same code cannot then sign anyone in.
   */
  readonly enrolment: Enrolment = {
    begin: async (ctx: EnrolContext) => {
      const secret = newTotpSecret();
      const uri = totpUri(secret, ctx.organisation, ctx.user.username);
      const state: TotpEnrolmentState = { secret };
      return { view: 'enrol/totp', vars: { qr: await totpQrCode(uri), key: groupKey(secret), uri }, state };
    },
    finish: async (ctx: EnrolContext, state: unknown, input: Record<string, string>) => {
      if (!isEnrolmentState(state)) return { ok: false, reason: 'expired' };
      const result = await checkTotp(state.secret, input.code ?? '');
      if (!result.valid) return { ok: false, reason: 'invalid_code' };
      const factor = await this.factors.add({
        userId: ctx.user.id,
        kind: this.kind,
        name: input.name ?? '',
        secret: state.secret,
        state: { last_step: result.timeStep },
      });
      return { ok: true, factor };
    },
  };

  async challenge(ctx: ChallengeContext) {
    return { view: 'mfa/totp', vars: { factor: ctx.factor } };
  }

  async verify(ctx: ChallengeContext, input: Record<string, string>): Promise<FactorCheck> {
    const stored = await this.factors.withSecret<string, TotpState>(ctx.factor.id);
    if (!stored || stored.record.userId !== ctx.user.id) return { ok: false, reason: 'not_enrolled' };
    const last = stored.state.last_step;
    const result = await checkTotp(stored.secret, input.code ?? '', last);
    if (!result.valid) {
      const replay = last !== undefined && (await checkTotp(stored.secret, input.code ?? '')).valid;
      return { ok: false, reason: replay ? 'replayed' : 'invalid_code' };
    }
    // Two requests racing with the same code: only one moves the time step on.
    if (
      !(await this.factors.recordUse(stored.record.id, stored.stateText, {
        ...stored.state,
        last_step: result.timeStep,
      }))
    ) {
      return { ok: false, reason: 'replayed' };
    }
    return { ok: true, factor: stored.record, amr: [...this.amr], strength: this.strength };
  }
}
