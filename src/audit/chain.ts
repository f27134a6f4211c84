import crypto from 'node:crypto';
import canonicalize from 'canonicalize';
import type { AuditEvent } from './event.js';

/** The hash before the first event. */
export const GENESIS = '0'.repeat(64);

/** A value the fast path leaves to the library (which serialises it, or refuses it, as RFC 8785 says). */
const UNUSUAL = Symbol('unusual');
/** Deeper than any event nests: a cycle, for the library to report. */
const MAX_DEPTH = 64;
const ARRAY_INDEX = /^(?:0|[1-9]\d{0,9})$/;

/** String.prototype.isWellFormed (Node 20 and later), which the ES2023 library types do not declare yet. */
const wellFormed = (s: string) => (s as string & { isWellFormed(): boolean }).isWellFormed();
/** A key JavaScript orders before the others: an array index (a digit first rules most keys out cheaply). */
const isArrayIndex = (key: string) => {
  const first = key.charCodeAt(0);
  return first >= 48 && first <= 57 && ARRAY_INDEX.test(key);
};

/**
 * The value with every object's keys in sorted order (UTF-16 code units, as RFC 8785 sorts them), or UNUSUAL.
 * JSON.stringify writes keys in insertion order and numbers and strings as RFC 8785 does, so it turns this copy into
 * the canonical text — except for array-index keys (JavaScript puts those first, in numeric order), values it
 * writes differently from RFC 8785 (NaN, infinities, strings with a lone surrogate, functions, toJSON) and values
 * RFC 8785 has no form for: those are UNUSUAL.
 */
function sortedCopy(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
      return wellFormed(value) ? value : UNUSUAL;
    case 'number':
      return Number.isFinite(value) ? value : UNUSUAL;
    case 'boolean':
      return value;
    case 'object':
      break;
    default:
      return UNUSUAL;
  }
  if (value === null) return null;
  if (depth > MAX_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === 'function') return UNUSUAL;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value as unknown[]) {
      // Both write a missing item or a symbol as null.
      const copy = item === undefined || typeof item === 'symbol' ? null : sortedCopy(item, depth + 1);
      if (copy === UNUSUAL) return UNUSUAL;
      out.push(copy);
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source).sort()) {
    if (isArrayIndex(key) || key === '__proto__' || !wellFormed(key)) return UNUSUAL;
    const item = source[key];
    if (item === undefined || typeof item === 'symbol') continue;
    const copy = sortedCopy(item, depth + 1);
    if (copy === UNUSUAL) return UNUSUAL;
    out[key] = copy;
  }
  return out;
}

/**
 * RFC 8785 canonical JSON: the same event always hashes the same, whatever the key order it was stored with. Every
 * event is canonicalised as it is appended; JSON.stringify of a key-sorted copy gives the library's text at a
 * fraction of its cost, and anything out of the ordinary is the library's.
 */
export function canonical(event: AuditEvent): string {
  const sorted = sortedCopy(event, 0);
  const text = sorted === UNUSUAL ? canonicalize(event) : JSON.stringify(sorted);
  if (text === undefined) throw new Error('audit event cannot be serialised');
  return text;
}

/** hash(n) = SHA-256(hash(n-1) ‖ seq ‖ canonical(event n)): editing, deleting or reordering any event breaks every later link. */
export function chainHash(prevHash: string, seq: number, canonicalEvent: string): string {
  return crypto.createHash('sha256').update(`${prevHash}\n${seq}\n${canonicalEvent}`).digest('hex');
}
