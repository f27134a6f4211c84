import net from 'node:net';
import { z } from 'zod';
import { duration } from '../config/duration.js';

/** `${NAME}`: a value read from the environment when the sender starts, so secrets stay out of poort.yaml. */
export const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const WHOLE_ENV_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || /^::ffff:127\./.test(host);
  return false;
}

const timeout = duration
  .refine((s) => s >= 1 && s <= 120, { message: 'expected a timeout between 1s and 2m' })
  .default(10);

/** A bare address or `Display Name <address>`; nodemailer does the rest. */
const fromAddress = z.string().regex(/^(?:[^<>\r\n]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/, {
  message: 'expected an address such as no-reply@example.org or "Poort <no-reply@example.org>"',
});

export const smtpSenderSchema = z
  .object({
    type: z.literal('smtp'),
    host: z.string().min(1),
    /** default 465 with security: tls, else 587 */
    port: z.number().int().min(1).max(65535).optional(),
    /** starttls: upgrade, and refuse servers that cannot; tls: TLS from the start (port 465); none: loopback only */
    security: z.enum(['starttls', 'tls', 'none']).default('starttls'),
    username: z.string().min(1).optional(),
    password: z
      .string()
      .regex(WHOLE_ENV_REFERENCE, {
        message:
          'write the password as ${ENV_VAR} (an environment variable) or use password_file, so it is never in this file',
      })
      .optional(),
    password_file: z.string().min(1).optional(),
    from: fromAddress,
    timeout,
    /** PEM file with the CA certificate(s) of the mail server; default: the system CAs */
    ca_file: z.string().min(1).optional(),
    reject_unauthorized: z.boolean().default(true),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.password !== undefined && s.password_file !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['password_file'],
        message: 'use password or password_file, not both',
      });
    }
    const hasPassword = s.password !== undefined || s.password_file !== undefined;
    if (s.username !== undefined && !hasPassword) {
      ctx.addIssue({
        code: 'custom',
        path: ['username'],
        message: 'a username needs password or password_file',
      });
    }
    if (s.username === undefined && hasPassword) {
      ctx.addIssue({ code: 'custom', path: ['username'], message: 'a password needs a username' });
    }
    if (s.security === 'none' && !isLoopbackHost(s.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['security'],
        message: 'security: none is only allowed for a mail server on loopback; use starttls or tls',
      });
    }
    if ((s.ca_file !== undefined || !s.reject_unauthorized) && s.security === 'none') {
      ctx.addIssue({
        code: 'custom',
        path: ['security'],
        message: 'ca_file and reject_unauthorized need TLS',
      });
    }
  });

const gatewayUrl = z.url({ message: 'expected an absolute URL' }).superRefine((value, ctx) => {
  if (!URL.canParse(value)) return;
  const url = new URL(value);
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  ctx.addIssue({
    code: 'custom',
    message:
      url.protocol === 'http:'
        ? 'plain http is only allowed for a gateway on loopback; use https'
        : 'expected an https URL',
  });
});

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const RESERVED_HEADERS = new Set([
  'content-length',
  'content-type',
  'host',
  'transfer-encoding',
  'connection',
]);

/** Walks a JSON value's strings. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/**
 * The request body: JSON (as text or as a YAML mapping) whose string values may hold `{{to}}` and `{{text}}`.
 * Parsed here once; the values are put into the strings at send time, so they are always JSON-escaped.
 */
const bodyTemplate = z
  .union([z.string(), z.record(z.string(), z.unknown())])
  .default({ to: '{{to}}', text: '{{text}}' })
  .transform((value, ctx) => {
    let parsed: unknown = value;
    if (typeof value === 'string') {
      try {
        parsed = JSON.parse(value);
      } catch {
        ctx.addIssue({
          code: 'custom',
          message:
            'expected JSON with "{{to}}" and "{{text}}" inside string values, such as {"to": "{{to}}", "text": "{{text}}"}',
        });
        return z.NEVER;
      }
    }
    const all = strings(parsed).join('\n');
    for (const placeholder of ['{{to}}', '{{text}}']) {
      if (!all.includes(placeholder)) {
        ctx.addIssue({ code: 'custom', message: `the body needs ${placeholder} in a string value` });
        return z.NEVER;
      }
    }
    return parsed;
  });

export const webhookSenderSchema = z
  .object({
    type: z.literal('webhook'),
    url: gatewayUrl,
    /** request headers, e.g. the gateway's Authorization; `${ENV_VAR}` in a value is read from the environment */
    headers: z
      .record(
        z.string(),
        z.string().regex(/^[^\r\n]*$/, { message: 'header values cannot contain line breaks' }),
      )
      .default({})
      .superRefine((headers, ctx) => {
        for (const name of Object.keys(headers)) {
          if (!HEADER_NAME.test(name)) {
            ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is not a valid header name` });
          } else if (RESERVED_HEADERS.has(name.toLowerCase())) {
            ctx.addIssue({ code: 'custom', path: [name], message: `the ${name} header is set by Poort` });
          }
        }
      }),
    body: bodyTemplate,
    timeout,
  })
  .strict();

export const outboxSenderSchema = z
  .object({
    type: z.literal('outbox'),
    /** default: <storage.data_dir>/outbox.jsonl */
    path: z.string().min(1).optional(),
  })
  .strict();

const unknownType = (allowed: string) => ({
  error: (issue: { code?: string }) =>
    issue.code === 'invalid_union' ? `expected type: ${allowed}` : undefined,
});

export const emailSenderSchema = z.discriminatedUnion(
  'type',
  [smtpSenderSchema, outboxSenderSchema],
  unknownType('smtp or outbox'),
);
export const smsSenderSchema = z.discriminatedUnion(
  'type',
  [webhookSenderSchema, outboxSenderSchema],
  unknownType('webhook or outbox'),
);

export type SmtpSenderConfig = z.infer<typeof smtpSenderSchema>;
export type WebhookSenderConfig = z.infer<typeof webhookSenderSchema>;
export type OutboxSenderConfig = z.infer<typeof outboxSenderSchema>;
export type EmailSenderConfig = z.infer<typeof emailSenderSchema>;
export type SmsSenderConfig = z.infer<typeof smsSenderSchema>;
