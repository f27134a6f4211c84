import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { packageRoot } from '../paths.js';
import type { AuditAction, AuditOutcome, StoredAuditEvent } from './event.js';

/** The CEF "Name" of each action; an action missing here is named by itself. */
const DESCRIPTIONS: Partial<Record<AuditAction, string>> = {
  'signin.password': 'Password verified',
  'signin.upstream': 'Signed in at an upstream provider',
  'signin.mfa': 'Second factor verified',
  'signin.denied': 'Sign-in denied',
  'signin.completed': 'Sign-in completed',
  'signin.throttled': 'Sign-in throttled',
  'signin.rejected': 'Sign-in rejected',
  'consent.given': 'Consent given',
  'consent.denied': 'Consent denied',
  'token.issued': 'Token issued',
  'token.refreshed': 'Token refreshed',
  'token.revoked': 'Token revoked',
  'token.rejected': 'Token rejected',
  'saml.assertion.issued': 'SAML assertion issued',
  logout: 'Signed out',
  'logout.backchannel': 'Applications told of a sign-out',
  'password.changed': 'Password changed',
  'password.reset.requested': 'Password reset requested',
  'password.reset.completed': 'Password reset completed',
  'account.locked': 'Account locked',
  'account.unlocked': 'Account unlocked',
  'user.created': 'User created',
  'user.updated': 'User updated',
  'user.disabled': 'User disabled',
  'user.enabled': 'User enabled',
  'user.removed': 'User removed',
  'group.changed': 'Group membership changed',
  'client.created': 'Client created',
  'client.updated': 'Client updated',
  'client.removed': 'Client removed',
  'mfa.enrolled': 'Second factor enrolled',
  'mfa.removed': 'Second factor removed',
  'policy.changed': 'Policy changed',
  'device.added': 'Managed device added',
  'device.removed': 'Managed device removed',
  'keys.rotated': 'Signing keys rotated',
  'keys.retired': 'Signing key retired',
  'audit.archived': 'Audit trail archived',
};

export const CEF_SEVERITY: Record<AuditOutcome, number> = { success: 3, failure: 5, denied: 7 };

let version: string | undefined;

/** Poort's version from package.json, read once. */
export function poortVersion(): string {
  if (version === undefined) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
        version?: string;
      };
      version = pkg.version ?? 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

/** A header field: `\` and `|` escaped; line breaks, which the header cannot hold, become spaces. */
export function cefHeader(value: string): string {
  return value.replace(/[\\|]/g, (c) => `\\${c}`).replace(/\r\n|[\r\n]/g, ' ');
}

/** An extension value: `\` and `=` escaped, line breaks written as \n and \r. */
export function cefValue(value: string): string {
  return value.replace(/[\\=\r\n]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\${c}`));
}

/**
 * One event as an ArcSight Common Event Format line:
 * `CEF:0|Poort|Poort|<version>|<action>|<description>|<severity>|<extensions>`.
 */
export function toCef(stored: StoredAuditEvent, productVersion: string = poortVersion()): string {
  const { event } = stored;
  const ext: Array<[string, string | number | undefined]> = [];
  const add = (key: string, value: string | number | undefined | null) => {
    if (value !== undefined && value !== null && value !== '') ext.push([key, value]);
  };
  const time = Date.parse(event.time);
  add('rt', Number.isNaN(time) ? undefined : time);
  add('act', event.action);
  add('outcome', event.outcome);
  add('suser', event.actor.name ?? event.actor.id);
  add('suid', event.actor.id);
  add('cs2Label', 'actorType');
  add('cs2', event.actor.type);
  add('duser', event.subject?.username);
  add('duid', event.subject?.id);
  const ip = event.source?.ip;
  if (ip && net.isIPv6(ip)) {
    add('c6a2Label', 'Source IPv6 Address');
    add('c6a2', ip);
  } else add('src', ip);
  add('requestClientApplication', event.source?.user_agent);
  if (event.application) {
    add('cs1Label', 'application');
    add('cs1', event.application.id);
  }
  add('reason', event.reason);
  if (event.policy?.rule) {
    add('cs4Label', 'policyRule');
    add('cs4', event.policy.rule);
  }
  if (event.correlation) {
    add('cs3Label', 'correlation');
    add('cs3', event.correlation);
  }
  add('externalId', event.id);
  add('cn1Label', 'seq');
  add('cn1', stored.seq);

  const header = [
    'CEF:0',
    'Poort',
    'Poort',
    cefHeader(productVersion),
    cefHeader(event.action),
    cefHeader(DESCRIPTIONS[event.action] ?? event.action),
    String(CEF_SEVERITY[event.outcome] ?? 5),
  ].join('|');
  return `${header}|${ext.map(([k, v]) => `${k}=${cefValue(String(v))}`).join(' ')}`;
}
