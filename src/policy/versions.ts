import { recordedBy, type Actor, type Change, type RecordingStore } from '../audit/recorded.js';
import type { Config } from '../config/schema.js';
import { diffPolicies, summariseDiff, type PolicyDiff } from './diff.js';
import { activePolicy } from './load.js';
import { parsePolicy, type PolicySpec } from './schema.js';
import { PolicyStore, type PolicyVersion } from './store.js';

/** The audit event of a new version: what changed, by name, against the policy in force before. */
function changedEvent(
  stored: PolicyVersion,
  before: { version: number | null; source: string },
  diff: PolicyDiff,
  extra: Record<string, unknown>,
): Change {
  return {
    action: 'policy.changed',
    details: {
      version: stored.version,
      previous: before.version ?? before.source,
      summary: stored.summary,
      rules: diff.rules,
      networks: diff.networks,
      applications: diff.applications,
      ...(diff.default ? { default: diff.default } : {}),
      ...(diff.settings.length > 0 ? { settings: diff.settings } : {}),
      ...extra,
    },
  };
}

function parseOrUndefined(version: PolicyVersion): PolicySpec | undefined {
  try {
    return parsePolicy(version.text, `policy version ${version.version}`);
  } catch {
    return undefined;
  }
}

export interface PolicyWriter extends RecordingStore {
  config: RecordingStore['config'] & Pick<Config, 'policies'>;
  configFile: string;
}

/**
 * Stores `text` (already parsed and compiled by the caller) as the next version, in one transaction with its audit
 * event; the diff is taken against the version that is newest inside that transaction (or the policy file while none
 * is stored). Returns undefined when the newest version is the same text.
 */
export async function storePolicyVersion(
  store: PolicyWriter,
  actor: Actor,
  text: string,
  spec: PolicySpec,
  describe: (summary: string) => string,
  extra: Record<string, unknown> = {},
  /** where the change came from (the console: the request's source), added to its event */
  context: Pick<Change, 'source' | 'application' | 'correlation'> = {},
): Promise<{ stored: PolicyVersion; diff: PolicyDiff } | undefined> {
  const fallback = await activePolicy(store).catch(() => undefined);
  return recordedBy(store, actor, async (db) => {
    const versions = new PolicyStore(db);
    const latest = await versions.latest();
    if (latest?.text === text) return { result: undefined, changes: [] };
    const before = latest
      ? { version: latest.version, source: `version ${latest.version}`, spec: parseOrUndefined(latest) }
      : { version: null, source: fallback?.source ?? 'the policy file', spec: fallback?.compiled.spec };
    const diff = diffPolicies(before.spec, spec);
    const summary = summariseDiff(diff);
    const stored = await versions.add({
      text,
      createdBy: actor.name ?? actor.type,
      summary: describe(summary === 'no change' ? 'same rules, other text (comments or layout)' : summary),
    });
    return {
      result: { stored, diff },
      changes: [{ ...context, ...changedEvent(stored, before, diff, extra) }],
    };
  });
}
