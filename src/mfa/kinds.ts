import type { Services } from '../server/services.js';
import type { FactorKind, SecondFactor } from './factor.js';
import { TotpFactor } from './totp.js';

/** The second-factor kinds this Poort offers, by kind. */
export function secondFactors(services: Services): Map<FactorKind, SecondFactor> {
  const kinds = new Map<FactorKind, SecondFactor>();
  kinds.set('totp', new TotpFactor(services.factors));
  return kinds;
}
