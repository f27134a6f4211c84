import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/** JSON lines on stdout. Anything that could hold a secret is censored, whatever the caller passes. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'poort' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'password',
        '*.password',
        'secret',
        '*.secret',
        'client_secret',
        '*.client_secret',
        'token',
        '*.token',
        'code',
        '*.code',
        'cookie',
        '*.cookie',
        'authorization',
        '*.authorization',
        'req.headers.cookie',
        'req.headers.authorization',
        'headers.cookie',
        'headers.authorization',
      ],
      censor: '[redacted]',
    },
  });
}
