import { z } from 'zod';

const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** A duration in seconds, written as a whole number of seconds or as `30s`, `15m`, `8h`, `14d`. */
export const duration = z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const match = /^(\d+)\s*([smhd])$/.exec(value.trim());
  if (!match) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a duration such as 90s, 15m, 8h or 14d, got "${value}"`,
    });
    return z.NEVER;
  }
  return Number(match[1]) * units[match[2]!]!;
});
