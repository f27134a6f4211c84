import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { z } from 'zod';
import { auditConfigSchema, sinkSchema } from '../../../src/audit/sinks/config.js';
import { createSink } from '../../../src/audit/sinks/index.js';
import { FileSink } from '../../../src/audit/sinks/file.js';
import { SyslogSink } from '../../../src/audit/sinks/syslog.js';
import { WebhookSink } from '../../../src/audit/sinks/webhook.js';

/** The documented example (the same as in the report for config/poort.yaml). */
const EXAMPLE = `
audit:
  retention: 400d
  checkpoint_interval: 60s
  sinks:
    - type: syslog
      name: siem-syslog
      transport: tls
      host: siem.example.org
      port: 6514
      format: json
      app_name: poort
      facility: authpriv
      ca_file: /etc/poort/siem-ca.pem
      reject_unauthorized: true
    - type: syslog
      name: arcsight
      transport: udp
      host: 10.0.0.5
      port: 514
      format: cef
    - type: file
      name: local-file
      path: /var/log/poort/poort-audit.jsonl
      max_bytes: 104857600
      keep: 10
    - type: webhook
      name: siem-webhook
      url: https://siem.example.org/ingest/poort
      headers:
        Authorization: "Bearer \${POORT_SIEM_TOKEN}"
      batch_size: 100
      timeout: 10s
`;

/** The problems zod finds, one `path: message` per line; fails when there are none. */
function issues(input: unknown, schema: z.ZodType = auditConfigSchema): string {
  const result = schema.safeParse(input);
  expect(result.success).toBe(false);
  return result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
}

describe('audit sink configuration', () => {
  it('accepts the documented example', () => {
    const audit = auditConfigSchema.parse((parse(EXAMPLE) as { audit: unknown }).audit);
    expect(audit.retention).toBe(400 * 86400);
    expect(audit.checkpoint_interval).toBe(60);
    expect(audit.sinks.map((s) => s.name)).toEqual(['siem-syslog', 'arcsight', 'local-file', 'siem-webhook']);
    expect(audit.sinks[0]).toMatchObject({
      transport: 'tls',
      facility: 10,
      ca_file: '/etc/poort/siem-ca.pem',
    });
    expect(audit.sinks[3]).toMatchObject({
      timeout: 10,
      headers: { Authorization: 'Bearer ${POORT_SIEM_TOKEN}' },
    });
  });

  it('fills in the defaults', () => {
    expect(auditConfigSchema.parse({})).toEqual({
      sinks: [],
      retention: 400 * 86400,
      checkpoint_interval: 60,
    });
    expect(auditConfigSchema.prefault({}).parse(undefined)).toEqual({
      sinks: [],
      retention: 400 * 86400,
      checkpoint_interval: 60,
    });
    expect(
      sinkSchema.parse({ type: 'syslog', name: 's', transport: 'udp', host: 'localhost', port: 514 }),
    ).toEqual({
      type: 'syslog',
      name: 's',
      transport: 'udp',
      host: 'localhost',
      port: 514,
      format: 'json',
      app_name: 'poort',
      facility: 10,
      reject_unauthorized: true,
    });
    expect(sinkSchema.parse({ type: 'file', name: 'f', path: './audit.jsonl' })).toEqual({
      type: 'file',
      name: 'f',
      path: './audit.jsonl',
      max_bytes: 100 * 1024 * 1024,
      keep: 10,
    });
    expect(sinkSchema.parse({ type: 'webhook', name: 'w', url: 'https://siem.example.org/in' })).toEqual({
      type: 'webhook',
      name: 'w',
      url: 'https://siem.example.org/in',
      batch_size: 100,
      timeout: 10,
    });
    expect(
      sinkSchema.parse({
        type: 'syslog',
        name: 's',
        transport: 'tcp',
        host: 'h',
        port: 1,
        facility: 'local7',
      }),
    ).toMatchObject({ facility: 23 });
  });

  it('allows plain http only for loopback hosts', () => {
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://localhost/hook',
      'http://[::1]:9/x',
      'http://127.5.6.7/',
    ]) {
      expect(sinkSchema.safeParse({ type: 'webhook', name: 'w', url }).success, url).toBe(true);
    }
    for (const url of [
      'http://siem.example.org/hook',
      'http://10.0.0.5/hook',
      'http://[2001:db8::1]/',
      'ftp://x.org/',
    ]) {
      expect(sinkSchema.safeParse({ type: 'webhook', name: 'w', url }).success, url).toBe(false);
    }
    expect(issues({ type: 'webhook', name: 'w', url: 'not a url' }, sinkSchema)).toContain(
      'expected an absolute URL',
    );
    expect(issues({ type: 'webhook', name: 'w', url: 'http://siem.example.org/hook' }, sinkSchema)).toContain(
      'only allowed for loopback hosts',
    );
  });

  it('rejects an unknown type, a missing host, unknown keys and bad values', () => {
    expect(issues({ sinks: [{ type: 'kafka', name: 'k', host: 'h' }] })).toMatch(/type/);
    expect(issues({ sinks: [{ type: 'syslog', name: 's', transport: 'udp', port: 514 }] })).toMatch(/host/);
    expect(
      issues({
        sinks: [{ type: 'syslog', name: 's', transport: 'udp', host: 'h', port: 514, colour: 'red' }],
      }),
    ).toMatch(/colour/);
    expect(
      issues({ sinks: [{ type: 'syslog', name: 's', transport: 'quic', host: 'h', port: 514 }] }),
    ).toMatch(/transport/);
    expect(
      issues({ sinks: [{ type: 'syslog', name: 's', transport: 'udp', host: 'h', port: 70000 }] }),
    ).toMatch(/port/);
    expect(
      issues({
        sinks: [{ type: 'syslog', name: 's', transport: 'udp', host: 'h', port: 1, facility: 'nope' }],
      }),
    ).toMatch(/unknown syslog facility/);
    expect(
      issues({
        sinks: [{ type: 'syslog', name: 's', transport: 'udp', host: 'h', port: 1, ca_file: '/ca.pem' }],
      }),
    ).toMatch(/ca_file is only used with transport: tls/);
    expect(
      issues({
        sinks: [{ type: 'syslog', name: 's', transport: 'udp', host: 'h', port: 1, app_name: 'my app' }],
      }),
    ).toMatch(/app_name/);
    expect(issues({ sinks: [{ type: 'file', name: 'has space', path: 'x' }] })).toMatch(/name/);
    expect(issues({ sinks: [{ type: 'file', name: 'f', path: 'x', max_bytes: 10 }] })).toMatch(/max_bytes/);
    expect(
      issues({
        sinks: [{ type: 'webhook', name: 'w', url: 'https://x.org', headers: { 'Bad Header': 'v' } }],
      }),
    ).toMatch(/not a valid header name/);
    expect(
      issues({
        sinks: [{ type: 'webhook', name: 'w', url: 'https://x.org', headers: { 'Content-Type': 'x' } }],
      }),
    ).toMatch(/set by Poort/);
    expect(issues({ sinks: [{ type: 'webhook', name: 'w', url: 'https://x.org', timeout: '0s' }] })).toMatch(
      /timeout/,
    );
    expect(issues({ sinks: [], retention: 'forever' })).toMatch(/duration/);
    expect(issues({ sinks: [], shipping: true })).toMatch(/shipping/);
  });

  it('rejects two sinks with the same name', () => {
    const message = issues({
      sinks: [
        { type: 'file', name: 'siem', path: '/a.jsonl' },
        { type: 'webhook', name: 'other', url: 'https://x.org' },
        { type: 'syslog', name: 'siem', transport: 'udp', host: 'h', port: 514 },
      ],
    });
    expect(message).toContain('sink name "siem" is already used by sinks[0]');
  });

  it('makes the sink each type describes', () => {
    const syslog = sinkSchema.parse({
      type: 'syslog',
      name: 's',
      transport: 'udp',
      host: 'localhost',
      port: 514,
    });
    const file = sinkSchema.parse({ type: 'file', name: 'f', path: '/tmp/poort-never-written.jsonl' });
    const webhook = sinkSchema.parse({ type: 'webhook', name: 'w', url: 'https://x.org', batch_size: 7 });
    expect(createSink(syslog)).toBeInstanceOf(SyslogSink);
    expect(createSink(file)).toBeInstanceOf(FileSink);
    const hook = createSink(webhook);
    expect(hook).toBeInstanceOf(WebhookSink);
    expect(hook.batchSize).toBe(7);
    expect(hook.name).toBe('w');
  });
});
