/**
 * Recognises the errors of a store that cannot be reached right now (Redis or PostgreSQL down, restarting, refusing
 * connections, or a connection dropped mid-request), as opposed to a bug or bad input. Such a request is answered
 * 503 — a clean page or the protocol's `temporarily_unavailable` — and the same request may succeed later.
 */

/** Error classes of the `redis` client that mean the connection is gone or not yet back. */
const REDIS_CONNECTION_ERRORS = new Set([
  'ClientClosedError',
  'ClientOfflineError',
  'ConnectionTimeoutError',
  'DisconnectsClientError',
  'ReconnectStrategyError',
  'SocketClosedUnexpectedlyError',
  'SocketTimeoutError',
  'TimeoutError',
]);

/** Socket errors on the way to either server. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * PostgreSQL SQLSTATEs: class 08 (connection exception); 57P01–57P03 (the server shut down or terminated the session,
 * or cannot accept connections yet); 53300 (too many connections); 55000 with "not currently accepting connections"
 * (the database has ALLOW_CONNECTIONS false, as during maintenance).
 */
function postgresUnavailable(code: string, message: string): boolean {
  return (
    code.startsWith('08') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    code === '53300' ||
    (code === '55000' && message.includes('not currently accepting connections'))
  );
}

/** What pg and pg-pool throw without a code when a connection ends or cannot be had in time. */
const POSTGRES_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
];

export function isStoreUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (typeof e !== 'object') return false;
    const error = e as { name?: string; code?: unknown; message?: unknown; errors?: unknown };
    if (error.name === 'AuditUnavailableError') return true;
    if (REDIS_CONNECTION_ERRORS.has(e.constructor?.name ?? '')) return true;
    const code = typeof error.code === 'string' ? error.code : '';
    const message = typeof error.message === 'string' ? error.message : '';
    if (NETWORK_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code) && postgresUnavailable(code, message)) return true;
    if (POSTGRES_MESSAGES.some((m) => message.startsWith(m))) return true;
    // Happy Eyeballs: one error per address tried
    if (Array.isArray(error.errors) && error.errors.some((inner) => isStoreUnavailable(inner))) return true;
  }
  return false;
}

/** What a 503 for an unreachable store asks clients to wait: about one reconnect attempt at full backoff. */
export const RETRY_AFTER_SECONDS = 5;
