import { z } from 'zod';
import { duration } from '../../config/duration.js';
import type { CompileEnv, Condition } from './condition.js';
import { strictObject } from './parts.js';

/** `failed_attempts: { at_least: 3, within: 15m }`: this user's recent failed attempts (within: the policy default). */
export const failedAttemptsSchema = strictObject({
  at_least: z.number().int().min(1),
  within: duration.optional(),
});
export type FailedAttemptsSpec = z.infer<typeof failedAttemptsSchema>;

/** The top-level `failed_attempts` settings. */
export const failedAttemptsSettingsSchema = strictObject({
  /** how long a failed attempt counts when a condition names no window */
  within: duration.default(15 * 60),
});

function seconds(s: number): string {
  return s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`;
}

export function compileFailedAttempts(
  spec: FailedAttemptsSpec,
  env: Pick<CompileEnv, 'failedAttemptsWindow'>,
): Condition {
  const window = spec.within ?? env.failedAttemptsWindow;
  const count = (failures: readonly number[], now: number): number => {
    const since = now - window * 1000;
    let n = 0;
    // newest last: stop at the first one that is too old
    for (let i = failures.length - 1; i >= 0; i--) {
      const at = failures[i]!;
      if (at <= since) break;
      if (at <= now) n++;
    }
    return n;
  };
  return {
    holds: (e) => count(e.ctx.failures, e.ctx.now) >= spec.at_least,
    explain: (e, held) => {
      const n = count(e.ctx.failures, e.ctx.now);
      return `${n} failed attempt${n === 1 ? '' : 's'} within ${seconds(window)}, ${held ? 'at least' : 'fewer than'} ${spec.at_least}`;
    },
  };
}
