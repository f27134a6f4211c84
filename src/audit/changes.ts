/** Entries of `now` not in `was`, and of `was` not in `now`; undefined when both hold the same. */
export function listChange<T>(
  was: readonly T[],
  now: readonly T[],
): { added: T[]; removed: T[] } | undefined {
  const added = now.filter((v) => !was.includes(v));
  const removed = was.filter((v) => !now.includes(v));
  return added.length > 0 || removed.length > 0 ? { added, removed } : undefined;
}

/**
 * The details of an audit event for a changed record, by name, only what differs: `lists` as the entries added and
 * removed, `fields` as their new value (null: removed).
 */
export function changedFields(
  lists: ReadonlyArray<readonly [name: string, was: readonly unknown[], now: readonly unknown[]]>,
  fields: ReadonlyArray<readonly [name: string, was: unknown, now: unknown]>,
): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const [name, was, now] of lists) {
    const change = listChange(was, now);
    if (change) changes[name] = change;
  }
  for (const [name, was, now] of fields) if (was !== now) changes[name] = now ?? null;
  return changes;
}
