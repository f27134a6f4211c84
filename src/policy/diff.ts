import { describeOutcome } from './decide.js';
import type { PolicySpec } from './schema.js';

interface Changes {
  added: string[];
  removed: string[];
  changed: string[];
}

/** What a new version changes, by name: for the audit trail and the version history. */
export interface PolicyDiff {
  rules: Changes;
  networks: Changes;
  applications: Changes;
  /** the default outcome, when it changed */
  default?: { from: string; to: string };
  /** top-level settings that changed: impossible_travel, failed_attempts */
  settings: string[];
}

function compare<T>(before: Record<string, T>, after: Record<string, T>): Changes {
  const same = (a: T, b: T) => JSON.stringify(a) === JSON.stringify(b);
  return {
    added: Object.keys(after).filter((k) => !(k in before)),
    removed: Object.keys(before).filter((k) => !(k in after)),
    changed: Object.keys(after).filter((k) => k in before && !same(before[k]!, after[k]!)),
  };
}

const byId = (spec: PolicySpec | undefined) => Object.fromEntries((spec?.rules ?? []).map((r) => [r.id, r]));

/** The difference between two policies (`before` undefined: everything is new). Rule order is not a change. */
export function diffPolicies(before: PolicySpec | undefined, after: PolicySpec): PolicyDiff {
  const defaults = [before?.default, after.default].map((o) => (o ? describeOutcome(o) : 'none'));
  return {
    rules: compare(byId(before), byId(after)),
    networks: compare(before?.networks ?? {}, after.networks),
    applications: compare(before?.applications ?? {}, after.applications),
    ...(defaults[0] !== defaults[1] ? { default: { from: defaults[0]!, to: defaults[1]! } } : {}),
    settings: (['impossible_travel', 'failed_attempts'] as const).filter(
      (k) => before !== undefined && JSON.stringify(before[k]) !== JSON.stringify(after[k]),
    ),
  };
}

/** "rules added: a, b; rules changed: c; networks changed: office; default: allow → deny", or "no change". */
export function summariseDiff(diff: PolicyDiff): string {
  const parts: string[] = [];
  for (const what of ['rules', 'networks', 'applications'] as const) {
    for (const kind of ['added', 'removed', 'changed'] as const) {
      const names = diff[what][kind];
      if (names.length > 0) parts.push(`${what} ${kind}: ${names.join(', ')}`);
    }
  }
  if (diff.default) parts.push(`default: ${diff.default.from} → ${diff.default.to}`);
  if (diff.settings.length > 0) parts.push(`settings changed: ${diff.settings.join(', ')}`);
  return parts.length > 0 ? parts.join('; ') : 'no change';
}
