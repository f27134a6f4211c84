import type { Request } from 'express';

/** What a GET asks to see of each resource (RFC 7644 §3.4.2.5, §3.9): lower-cased paths, `name` or `name.givenName`. */
export interface Projection {
  attributes?: Set<string>;
  excluded?: Set<string>;
}

/** Returned whatever is asked (RFC 7643 §3: `id` is "always"; `schemas` says what the resource is). */
const ALWAYS = new Set(['id', 'schemas']);

/** `urn:ietf:params:scim:schemas:core:2.0:User:name.givenName` → `name.givenname`; attribute names ignore case. */
function path(name: string): string {
  const trimmed = name.trim();
  const urn = /^urn:.*:([^:]+)$/i.exec(trimmed);
  return (urn ? urn[1]! : trimmed).toLowerCase();
}

function paths(value: Request['query'][string]): Set<string> | undefined {
  if (value === undefined) return undefined;
  const parts = (Array.isArray(value) ? value : [value])
    .filter((v): v is string => typeof v === 'string')
    .flatMap((v) => v.split(','))
    .map(path)
    .filter(Boolean);
  return parts.length > 0 ? new Set(parts) : undefined;
}

export function projectionOf(query: Request['query']): Projection {
  const attributes = paths(query.attributes);
  const excluded = paths(query.excludedAttributes);
  return { ...(attributes ? { attributes } : {}), ...(excluded ? { excluded } : {}) };
}

/** Whether a resource projected so shows anything of the top-level attribute `name` (lower case). */
export function shows(projection: Projection, name: string): boolean {
  if (ALWAYS.has(name)) return true;
  if (projection.excluded?.has(name)) return false;
  const { attributes } = projection;
  return !attributes || attributes.has(name) || [...attributes].some((p) => p.startsWith(`${name}.`));
}

/** A complex value, or each value of a multi-valued one, with only the sub-attributes `keep` says yes to. */
function subAttributes(value: unknown, keep: (sub: string) => boolean): unknown {
  const one = (v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).filter(([k]) => keep(k.toLowerCase())))
      : v;
  return Array.isArray(value) ? value.map(one) : one(value);
}

/**
 * A resource with only the attributes asked for (`attributes`: those and `id`, `schemas`), or without those left
 * out (`excludedAttributes`; never `id` or `schemas`). Names not in the resource are passed over.
 */
export function project(resource: Record<string, unknown>, projection: Projection): Record<string, unknown> {
  const { attributes, excluded } = projection;
  if (!attributes && !excluded) return resource;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    const name = key.toLowerCase();
    const prefix = `${name}.`;
    let kept: unknown = value;
    if (attributes && !ALWAYS.has(name) && !attributes.has(name)) {
      const subs = [...attributes].filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
      if (subs.length === 0) continue;
      kept = subAttributes(value, (sub) => subs.includes(sub));
    }
    if (excluded && !ALWAYS.has(name)) {
      if (excluded.has(name)) continue;
      const subs = [...excluded].filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
      if (subs.length > 0) kept = subAttributes(kept, (sub) => !subs.includes(sub));
    }
    out[key] = kept;
  }
  return out;
}
