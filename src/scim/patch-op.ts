import { ScimError } from './errors.js';

export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** One operation of a PatchOp request, its op lower-cased (Entra ID sends `Replace`, `Add`, `Remove`). */
export interface PatchOperation {
  op: 'add' | 'replace' | 'remove';
  path: string | undefined;
  value: unknown;
}

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The operations of a PatchOp request (RFC 7644 §3.5.2), checked for their form. */
export function patchOperations(body: unknown): PatchOperation[] {
  if (!isObject(body) || !Array.isArray(body.Operations))
    throw new ScimError(400, 'expected a PatchOp with Operations', 'invalidSyntax');
  return (body.Operations as unknown[]).map((operation) => {
    if (!isObject(operation) || typeof operation.op !== 'string')
      throw new ScimError(400, 'every operation needs an op', 'invalidSyntax');
    const op = operation.op.toLowerCase();
    if (op !== 'add' && op !== 'replace' && op !== 'remove')
      throw new ScimError(400, `unknown op ${operation.op}`, 'invalidSyntax');
    return {
      op,
      path: typeof operation.path === 'string' ? operation.path.trim() : undefined,
      value: operation.value,
    };
  });
}
