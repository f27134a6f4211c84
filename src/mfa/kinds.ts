import { createLogger, type Logger } from '../log/logger.js';
import type { Services } from '../server/services.js';
import type { FactorKind, SecondFactor } from './factor.js';
import { otpFactors } from './otp/kinds.js';
import { TotpFactor } from './totp.js';
import { WebauthnFactor } from './webauthn/factor.js';

/** The second-factor kinds this Poort offers, by kind. */
export function secondFactors(services: Services, log?: Logger): Map<FactorKind, SecondFactor> {
  const kinds = new Map<FactorKind, SecondFactor>();
  kinds.set('totp', new TotpFactor(services.factors));
  kinds.set('webauthn', new WebauthnFactor(services));
  for (const otp of otpFactors(services, log ?? createLogger(services.config.log.level)))
    kinds.set(otp.kind, otp);
  return kinds;
}
