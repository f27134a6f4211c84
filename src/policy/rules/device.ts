import { z } from 'zod';
import type { DeviceType } from '../types.js';
import { listed, type Condition, type Evaluation } from './condition.js';
import { list, oneOf, strictObject } from './parts.js';

export const DEVICE_TYPES = ['mobile', 'tablet', 'desktop'] as const satisfies readonly DeviceType[];

/** `device: { type: [mobile, tablet], os: [iOS, Android], managed: false, known: true }`: every key given must hold. */
export const deviceSchema = strictObject({
  type: list(oneOf(DEVICE_TYPES)).optional(),
  os: list(
    z.string().min(1, 'expected an operating system such as iOS, Android, Windows or macOS'),
  ).optional(),
  managed: z.boolean().optional(),
  known: z.boolean().optional(),
}).refine((d) => Object.values(d).some((v) => v !== undefined), {
  message: 'expected at least one of type, os, managed, known',
});
export type DeviceSpec = z.infer<typeof deviceSchema>;

/** "Mac OS" (ua-parser-js), "macOS" (client hints) and "macos" are the same system. */
function normaliseOs(os: string): string {
  return os.toLowerCase().replace(/[^a-z0-9]/g, '');
}

let lastOs = '';
let lastNormalised = '';

/** The same, remembering the last answer: one attempt asks it once per rule with an `os` condition. */
function normalisedOs(os: string): string {
  if (os !== lastOs) {
    lastNormalised = normaliseOs(os);
    lastOs = os;
  }
  return lastNormalised;
}

export function compileDevice(spec: DeviceSpec): Condition {
  const types = spec.type && new Set<string>(spec.type);
  const systems = spec.os && new Set(spec.os.map(normaliseOs));
  const checks: Array<{ holds: Condition['holds']; says: (e: Evaluation) => string }> = [];
  if (types) {
    const names = listed(spec.type!);
    checks.push({
      holds: (e) => types.has(e.ctx.device.type),
      says: (e) =>
        `device type ${e.ctx.device.type} is ${types.has(e.ctx.device.type) ? '' : 'not '}one of ${names}`,
    });
  }
  if (systems) {
    const names = listed(spec.os!);
    const holds: Condition['holds'] = (e) =>
      e.ctx.device.os !== undefined && systems.has(normalisedOs(e.ctx.device.os));
    checks.push({
      holds,
      says: (e) => `device os ${e.ctx.device.os ?? 'unknown'} is ${holds(e) ? '' : 'not '}one of ${names}`,
    });
  }
  if (spec.managed !== undefined) {
    const managed = spec.managed;
    checks.push({
      holds: (e) => e.ctx.device.managed === managed,
      says: (e) => `device is ${e.ctx.device.managed ? 'managed' : 'not managed (BYOD)'}`,
    });
  }
  if (spec.known !== undefined) {
    const known = spec.known;
    checks.push({
      holds: (e) => e.ctx.device.known === known,
      says: (e) => `device is ${e.ctx.device.known ? 'known' : 'not known'} for this user`,
    });
  }
  return {
    holds: (e) => {
      for (const check of checks) if (!check.holds(e)) return false;
      return true;
    },
    explain: (e, held) =>
      held ? checks.map((c) => c.says(e)).join(' and ') : checks.find((c) => !c.holds(e))!.says(e),
  };
}
