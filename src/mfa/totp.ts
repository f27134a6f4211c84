import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';
import type { ChallengeContext, FactorCheck, SecondFactor } from './factor.js';
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

/** Time-based one-time passwords (RFC 6238) from an authenticator app or a hardware OATH token. */
export class TotpFactor implements SecondFactor {
  readonly kind = 'totp' as const;
  readonly strength = 'totp' as const;
  readonly amr = ['otp'] as const;

  constructor(private readonly factors: FactorRepository) {}

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
