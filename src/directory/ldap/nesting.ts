import { dnKey } from './entry.js';

/** A group as the directory names it: its DN, and its name in Poort where it has one. */
export interface GroupRef {
  dn: string;
  name: string | null;
}

/**
 * How many levels of groups in groups are followed above a user's own groups. Active Directory's own tools warn
 * well before this; a deeper chain is far more likely a mistake than a design, and each level costs a round trip.
 */
export const MAX_NESTING = 10;

/** A user's groups with every group they are in through others, and whether a chain went deeper than allowed. */
export interface NestedGroups {
  groups: GroupRef[];
  /** some groups at the last level followed are themselves members of groups that were not looked at */
  truncated: boolean;
}

/**
 * Walks up from a user's own groups (`direct`) to every group they are in through others, one level at a time:
 * `parentsOf` answers which groups list any of the given groups as a member. A group met again (a cycle, or two
 * paths to it) is not asked about twice; after `maxDepth` levels above the user's own groups the walk stops and says
 * so, when there was more.
 */
export async function withParentGroups(
  direct: GroupRef[],
  parentsOf: (groups: GroupRef[]) => Promise<GroupRef[]>,
  maxDepth = MAX_NESTING,
): Promise<NestedGroups> {
  const seen = new Map<string, GroupRef>();
  const add = (groups: GroupRef[]): GroupRef[] => {
    const added: GroupRef[] = [];
    for (const g of groups) {
      const key = dnKey(g.dn);
      if (seen.has(key)) continue;
      seen.set(key, g);
      added.push(g);
    }
    return added;
  };
  let level = add(direct);
  for (let depth = 0; level.length > 0; depth++) {
    const parents = await parentsOf(level);
    if (depth === maxDepth) {
      return { groups: [...seen.values()], truncated: parents.some((p) => !seen.has(dnKey(p.dn))) };
    }
    level = add(parents);
  }
  return { groups: [...seen.values()], truncated: false };
}

/** Group names, each once, sorted: what Poort keeps of a user's groups. */
export function groupNames(groups: Iterable<GroupRef>): string[] {
  const names = new Set<string>();
  for (const g of groups) if (g.name) names.add(g.name);
  return [...names].sort();
}
