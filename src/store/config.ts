import { z } from 'zod';
import { duration } from '../config/duration.js';

/** Why a connection URL cannot be used, or undefined when it can. The URL itself is never repeated: it may hold a password. */
export function postgresUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'expected a URL such as postgres://user:password@host:5432/database';
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    return `expected a postgres:// or postgresql:// URL, not ${url.protocol}//`;
  if (!url.hostname && !url.searchParams.has('host')) return 'the URL names no host';
  if (url.pathname.length <= 1) return 'the URL names no database (postgres://host/<database>)';
  return undefined;
}

export function redisUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'expected a URL such as redis://user:password@host:6379/0 (rediss:// for TLS)';
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    return `expected a redis:// or rediss:// URL, not ${url.protocol}//`;
  if (!url.hostname) return 'the URL names no host';
  if (url.pathname.length > 1 && !/^\/\d{1,2}$/.test(url.pathname))
    return 'the path of a Redis URL is its database number (redis://host:6379/0)';
  return undefined;
}

const url = (problem: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const message = problem(value);
    if (message) ctx.addIssue({ code: 'custom', message });
  });

export const postgresUrl = url(postgresUrlProblem);
export const redisUrl = url(redisUrlProblem);

/** The connection pool of each Poort process to PostgreSQL. */
export const postgresPoolSchema = z
  .object({
    /** most connections one process opens */
    pool_max: z.number().int().min(1).max(1000).default(10),
    /** a connection idle this long is closed */
    idle_timeout: duration.default(30),
    /** a request waiting this long for a connection fails with 503 instead of hanging */
    connect_timeout: duration.refine((s) => s >= 1, { message: 'must be at least 1s' }).default(10),
    /** the server cancels a statement running this long (0: no limit) */
    statement_timeout: duration.default(30),
  })
  .strict();

export const redisConnectionSchema = z
  .object({
    /** the first connection at start-up must succeed within this long, or start-up fails */
    connect_timeout: duration.refine((s) => s >= 1, { message: 'must be at least 1s' }).default(10),
    /** reconnects after an outage wait 100 ms, doubling up to this (with jitter), and go on until Redis is back */
    reconnect_max_delay: duration.refine((s) => s >= 1, { message: 'must be at least 1s' }).default(5),
    /** PEM file of the CA that signed Redis's certificate, for rediss:// with a private CA (default: the system CAs) */
    tls_ca_file: z.string().min(1).optional(),
  })
  .strict();
