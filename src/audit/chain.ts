import crypto from 'node:crypto';
import canonicalize from 'canonicalize';
import type { AuditEvent } from './event.js';

/** The hash before the first event. */
export const GENESIS = '0'.repeat(64);

/** RFC 8785 canonical JSON: the same event always hashes the same, whatever the key order it was stored with. */
export function canonical(event: AuditEvent): string {
  const text = canonicalize(event);
  if (text === undefined) throw new Error('audit event cannot be serialised');
  return text;
}

/** hash(n) = SHA-256(hash(n-1) ‖ seq ‖ canonical(event n)): editing, deleting or reordering any event breaks every later link. */
export function chainHash(prevHash: string, seq: number, canonicalEvent: string): string {
  return crypto.createHash('sha256').update(`${prevHash}\n${seq}\n${canonicalEvent}`).digest('hex');
}
