import type { StoredAuditEvent } from './event.js';

const CATEGORY: Record<string, string[]> = {
  signin: ['authentication'],
  logout: ['authentication', 'session'],
  token: ['authentication'],
  consent: ['authentication'],
  saml: ['authentication'],
  password: ['iam'],
  account: ['iam'],
  user: ['iam'],
  group: ['iam'],
  client: ['configuration'],
  mfa: ['iam'],
  policy: ['configuration'],
  device: ['configuration'],
  keys: ['configuration'],
  audit: ['configuration'],
};

function clean<T extends Record<string, unknown>>(obj: T): T {
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (value === undefined || value === null) delete obj[key];
    else if (typeof value === 'object' && !Array.isArray(value)) {
      clean(value as Record<string, unknown>);
      if (Object.keys(value as object).length === 0) delete obj[key];
    }
  }
  return obj;
}

/**
 * An event as an Elastic Common Schema document, so the same JSON drops into Elastic, OpenSearch or Splunk.
 * Everything without an ECS field goes under `poort.*`.
 */
export function toEcs(stored: StoredAuditEvent): Record<string, unknown> {
  const { event } = stored;
  const prefix = event.action.split('.')[0] ?? '';
  return clean({
    '@timestamp': event.time,
    ecs: { version: '8.11.0' },
    event: {
      id: event.id,
      kind: 'event',
      action: event.action,
      outcome: event.outcome === 'denied' ? 'failure' : event.outcome,
      category: CATEGORY[prefix] ?? ['authentication'],
      type: event.outcome === 'success' ? ['info'] : ['denied'],
      reason: event.reason,
      sequence: stored.seq,
    },
    user: {
      id: event.subject?.id,
      name: event.subject?.username,
    },
    source: event.source?.ip
      ? {
          ip: event.source.ip,
          geo: event.source.country ? { country_iso_code: event.source.country } : undefined,
        }
      : undefined,
    user_agent: event.source?.user_agent
      ? {
          original: event.source.user_agent,
          os: event.source.device?.os ? { name: event.source.device.os } : undefined,
          device: event.source.device?.type ? { name: event.source.device.type } : undefined,
          name: event.source.device?.browser,
        }
      : undefined,
    service: { name: 'poort', type: 'identity-provider' },
    poort: {
      outcome: event.outcome,
      actor: event.actor,
      subject_known: event.subject?.known,
      application: event.application,
      device_managed: event.source?.managed,
      policy: event.policy,
      correlation: event.correlation,
      details: event.details,
      seq: stored.seq,
      hash: stored.hash,
      prev_hash: stored.prevHash,
    },
  });
}
