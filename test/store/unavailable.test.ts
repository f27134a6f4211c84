import { describe, expect, it } from 'vitest';
import { ClientOfflineError, SocketClosedUnexpectedlyError, WatchError } from 'redis';
import { AuditUnavailableError } from '../../src/audit/log.js';
import { isStoreUnavailable } from '../../src/store/unavailable.js';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('which errors mean a store cannot be reached', () => {
  it('recognises Redis connection errors, PostgreSQL connection failures and a failed audit write', () => {
    for (const err of [
      new ClientOfflineError(),
      new SocketClosedUnexpectedlyError(),
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('08006'),
      pgError('53300', 'sorry, too many clients already'),
      pgError('55000', 'database "poort" is not currently accepting connections'),
      pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new AuditUnavailableError(new Error('disk full')),
      new Error('wrapped', { cause: new ClientOfflineError() }),
      new AggregateError([pgError('ECONNREFUSED'), pgError('ECONNREFUSED')]),
    ])
      expect(isStoreUnavailable(err), String(err)).toBe(true);
  });

  it('leaves bugs, bad input and ordinary database errors alone', () => {
    for (const err of [
      new TypeError('x is undefined'),
      new WatchError(),
      pgError('23505', 'duplicate key value violates unique constraint'),
      pgError('55000', 'some other prerequisite'),
      pgError('42P01', 'relation "users" does not exist'),
      undefined,
      'a string',
    ])
      expect(isStoreUnavailable(err), String(err)).toBe(false);
  });
});
