import net from 'node:net';
import { z } from 'zod';
import { duration } from '../../config/duration.js';

/** Syslog facility names (RFC 5424 §6.2.1) and their codes. */
export const SYSLOG_FACILITIES: Record<string, number> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  security: 13,
  console: 14,
  solaris_cron: 15,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

/** The cursor key of a sink: stored in the database, so kept short and plain. */
const sinkName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
  message: 'expected a name of letters, digits, "_", "." or "-" (at most 64 characters)',
});

/** A code 0–23 or a name such as authpriv or local0; always a number after parsing. */
const facility = z.union([z.number().int().min(0).max(23), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const code = SYSLOG_FACILITIES[value.trim().toLowerCase()];
  if (code === undefined) {
    ctx.addIssue({ code: 'custom', message: `unknown syslog facility "${value}"` });
    return z.NEVER;
  }
  return code;
});

export const syslogSinkSchema = z
  .object({
    type: z.literal('syslog'),
    name: sinkName,
    transport: z.enum(['udp', 'tcp', 'tls']),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    /** json: the ECS document; cef: an ArcSight CEF line */
    format: z.enum(['json', 'cef']).default('json'),
    /** RFC 5424 APP-NAME: up to 48 printable ASCII characters, no spaces */
    app_name: z
      .string()
      .regex(/^[\x21-\x7e]{1,48}$/, { message: 'expected 1–48 printable ASCII characters without spaces' })
      .default('poort'),
    facility: facility.default(10),
    /** PEM file with the CA certificate(s) that sign the receiver's certificate (tls); default: the system CAs */
    ca_file: z.string().min(1).optional(),
    /** tls: refuse receivers whose certificate does not verify; turn off only for tests */
    reject_unauthorized: z.boolean().default(true),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.ca_file !== undefined && s.transport !== 'tls') {
      ctx.addIssue({
        code: 'custom',
        path: ['ca_file'],
        message: 'ca_file is only used with transport: tls',
      });
    }
  });

export const fileSinkSchema = z
  .object({
    type: z.literal('file'),
    name: sinkName,
    /** the current file; rotated files get .1, .2, … appended */
    path: z.string().min(1),
    max_bytes: z
      .number()
      .int()
      .min(1024)
      .max(2 ** 50)
      .default(100 * 1024 * 1024),
    /** rotated files kept besides the current one */
    keep: z.number().int().min(0).max(1000).default(10),
  })
  .strict();

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host))
    return host === '::1' || /^::ffff:127\./.test(host) || /^::ffff:7f[0-9a-f]{2}:/.test(host);
  return false;
}

const webhookUrl = z.url({ message: 'expected an absolute URL' }).superRefine((value, ctx) => {
  // zod runs this check after a failed url check too
  if (!URL.canParse(value)) return;
  const url = new URL(value);
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:') {
    if (!isLoopbackHost(url.hostname)) {
      ctx.addIssue({ code: 'custom', message: 'plain http is only allowed for loopback hosts; use https' });
    }
    return;
  }
  ctx.addIssue({ code: 'custom', message: 'expected an https URL' });
});

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const RESERVED_HEADERS = new Set([
  'content-length',
  'content-type',
  'host',
  'transfer-encoding',
  'connection',
]);

/** `${NAME}` in a header value: replaced by the environment variable when the sink starts. */
export const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export const webhookSinkSchema = z
  .object({
    type: z.literal('webhook'),
    name: sinkName,
    url: webhookUrl,
    /** extra request headers; `${ENV_VAR}` in a value is replaced at start, so secrets stay out of the file */
    headers: z
      .record(
        z.string(),
        z.string().regex(/^[^\r\n]*$/, { message: 'header values cannot contain line breaks' }),
      )
      .optional()
      .superRefine((headers, ctx) => {
        for (const name of Object.keys(headers ?? {})) {
          if (!HEADER_NAME.test(name)) {
            ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is not a valid header name` });
          } else if (RESERVED_HEADERS.has(name.toLowerCase())) {
            ctx.addIssue({ code: 'custom', path: [name], message: `the ${name} header is set by Poort` });
          }
        }
      }),
    batch_size: z.number().int().min(1).max(10_000).default(100),
    /** per request, in seconds after parsing */
    timeout: duration
      .refine((s) => s >= 1 && s <= 600, { message: 'expected a timeout between 1s and 10m' })
      .default(10),
  })
  .strict();

export const sinkSchema = z.discriminatedUnion('type', [syslogSinkSchema, fileSinkSchema, webhookSinkSchema]);

export type SinkConfig = z.infer<typeof sinkSchema>;
export type SyslogSinkConfig = z.infer<typeof syslogSinkSchema>;
export type FileSinkConfig = z.infer<typeof fileSinkSchema>;
export type WebhookSinkConfig = z.infer<typeof webhookSinkSchema>;

/** The whole `audit:` block of poort.yaml. */
export const auditConfigSchema = z
  .object({
    /** where the trail is shipped; each sink keeps its own cursor under its name */
    sinks: z.array(sinkSchema).default([]),
    /** how long events stay in the database (seconds after parsing) */
    retention: duration.default(400 * 86400),
    /** how often the head of the chain is signed (seconds after parsing) */
    checkpoint_interval: duration.default(60),
  })
  .strict()
  .superRefine((audit, ctx) => {
    const seen = new Map<string, number>();
    audit.sinks.forEach((sink, i) => {
      const first = seen.get(sink.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['sinks', i, 'name'],
          message: `sink name "${sink.name}" is already used by sinks[${first}]; every sink needs its own name`,
        });
      } else seen.set(sink.name, i);
    });
  });

export type AuditConfig = z.infer<typeof auditConfigSchema>;
