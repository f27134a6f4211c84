import { activePolicy } from './load.js';
import type { PolicySpec } from './schema.js';

/** The ids of the rules whose `when` or `unless` names `group`: removing the group would change what they decide. */
export function rulesNamingGroup(spec: PolicySpec, group: string): string[] {
  return spec.rules
    .filter((rule) => [rule.when, rule.unless].some((part) => part?.groups?.includes(group)))
    .map((rule) => rule.id);
}

/**
 * Why a group may not be removed: the policy in force names it (a rule `when: { groups: [finance] }, then: mfa`
 * would silently stop asking its members for a second factor). Undefined when nothing refers to it.
 */
export async function groupRemovalRefusal(
  services: Parameters<typeof activePolicy>[0],
  group: string,
): Promise<string | undefined> {
  const active = await activePolicy(services);
  const rules = rulesNamingGroup(active.compiled.spec, group);
  if (rules.length === 0) return undefined;
  return `group ${group} is named by rule${rules.length === 1 ? '' : 's'} ${rules.join(', ')} of the sign-in policy in force (${active.version === null ? active.source : `version ${active.version}`}): change the policy first`;
}
