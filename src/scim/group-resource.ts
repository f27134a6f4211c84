import { ScimError } from './errors.js';
import { isObject, patchOperations } from './patch-op.js';

export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';

/** What a provisioning system decides of a group: its name and its members, by user id. */
export interface ScimGroup {
  displayName: string;
  members: Set<string>;
}

export function toGroupResource(
  group: { id: string; name: string; createdAt: string; memberIds: Array<{ id: string; username: string }> },
  base: string,
) {
  return {
    schemas: [GROUP_SCHEMA],
    id: group.id,
    displayName: group.name,
    members: group.memberIds.map((m) => ({
      value: m.id,
      display: m.username,
      $ref: `${base}/Users/${m.id}`,
    })),
    meta: { resourceType: 'Group', created: group.createdAt, location: `${base}/Groups/${group.id}` },
  };
}

/** The user ids of a `members` value: a list of `{value}`. */
function memberIds(value: unknown): string[] {
  const list = Array.isArray(value) ? value : isObject(value) ? [value] : undefined;
  if (!list || !list.every((m) => isObject(m) && typeof m.value === 'string'))
    throw new ScimError(400, 'members must be a list of {"value": "<user id>"}', 'invalidValue');
  return list.map((m) => (m as { value: string }).value);
}

/** A Group resource as sent to create or replace a group (POST, PUT). */
export function fromGroupResource(body: unknown): ScimGroup {
  if (!isObject(body)) throw new ScimError(400, 'the body must be a JSON object', 'invalidSyntax');
  if (typeof body.displayName !== 'string' || body.displayName.trim() === '')
    throw new ScimError(400, 'displayName is required', 'invalidValue');
  return {
    displayName: body.displayName.trim(),
    members: new Set(body.members === undefined || body.members === null ? [] : memberIds(body.members)),
  };
}

/**
 * A PatchOp on a group, in the forms Entra ID and Okta send: members added, removed (by value, or by a
 * `members[value eq "…"]` path) or replaced, and displayName replaced (possibly together with the id, unchanged).
 */
export function applyGroupPatch(current: ScimGroup, body: unknown): ScimGroup {
  const group: ScimGroup = { displayName: current.displayName, members: new Set(current.members) };
  for (const operation of patchOperations(body)) {
    const { op, path } = operation;
    const filtered = path ? /^members\[\s*value\s+eq\s+"([^"]+)"\s*\]$/i.exec(path) : null;
    if (filtered) {
      if (op !== 'remove') throw new ScimError(400, `${op} on ${path} is not supported`, 'invalidPath');
      group.members.delete(filtered[1]!);
    } else if (path?.toLowerCase() === 'members') {
      if (op === 'remove' && operation.value === undefined) group.members.clear();
      else {
        const ids = memberIds(operation.value);
        if (op === 'replace') group.members = new Set(ids);
        for (const id of ids) {
          if (op === 'remove') group.members.delete(id);
          else group.members.add(id);
        }
      }
    } else if (path?.toLowerCase() === 'displayname') {
      if (op === 'remove') throw new ScimError(400, 'displayName cannot be removed', 'mutability');
      if (typeof operation.value !== 'string')
        throw new ScimError(400, 'displayName must be a string', 'invalidValue');
      group.displayName = operation.value.trim();
    } else if (path === undefined && op !== 'remove' && isObject(operation.value)) {
      for (const [key, value] of Object.entries(operation.value)) {
        const name = key.toLowerCase();
        if (name === 'displayname') {
          if (typeof value !== 'string')
            throw new ScimError(400, 'displayName must be a string', 'invalidValue');
          group.displayName = value.trim();
        } else if (name === 'members') {
          const ids = memberIds(value);
          if (op === 'replace') group.members = new Set(ids);
          else for (const id of ids) group.members.add(id);
        } else if (name !== 'id' && name !== 'externalid' && name !== 'schemas')
          throw new ScimError(400, `unknown attribute ${key}`, 'invalidPath');
      }
    } else
      throw new ScimError(400, `unsupported path ${path ?? '(none)'}`, path ? 'invalidPath' : 'noTarget');
  }
  return group;
}
