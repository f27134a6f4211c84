import { z } from 'zod';
import { listed, type Condition } from './condition.js';
import { inOrNotIn } from './parts.js';

const regions = new Intl.DisplayNames(['en'], { type: 'region' });

/** ISO 3166 alpha-2 (any case, kept in upper case), or `unknown` for addresses without a country. */
const countryCode = z
  .string()
  .transform((value) => (value.toLowerCase() === 'unknown' ? 'unknown' : value.toUpperCase()))
  .refine((code) => code === 'unknown' || (/^[A-Z]{2}$/.test(code) && regions.of(code) !== code), {
    error: (issue) =>
      `expected an ISO 3166 alpha-2 country code such as NL, or unknown, got ${JSON.stringify(issue.input)}`,
  });

/** `country: { in: [KP, IR] }` or `{ not_in: [NL, BE, unknown] }`. */
export const countrySchema = inOrNotIn(countryCode);
export type CountrySpec = z.infer<typeof countrySchema>;

export function compileCountry(spec: CountrySpec): Condition {
  const inside = spec.in !== undefined;
  const codes = spec.in ?? spec.not_in ?? [];
  const set = new Set(codes);
  const names = listed(codes);
  return {
    // An address without a country is in no list of countries and outside none: only `in: [unknown]` matches it.
    holds: (e) => {
      const country = e.ctx.country;
      if (country === 'unknown') return inside && set.has('unknown');
      return set.has(country) === inside;
    },
    explain: (e, held) =>
      e.ctx.country === 'unknown' && !inside
        ? 'country is unknown, which no not_in list matches'
        : `country ${e.ctx.country} is ${held === inside ? '' : 'not '}in ${names}`,
  };
}
