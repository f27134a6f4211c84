import type { Request, Response } from 'express';
import type { Actor } from '../audit/recorded.js';
import { ScimError } from './errors.js';

export const SCIM_BASE = '/scim/v2';
export const MAX_COUNT = 200;
export const SCIM_JSON = 'application/scim+json';

/** The client a request's bearer token belongs to: one that scim.clients names. */
export interface Caller {
  clientId: string;
  actor: Actor;
}

export function send(res: Response, status: number, body?: unknown): void {
  res.status(status).type(SCIM_JSON);
  if (body === undefined) res.end();
  else res.send(JSON.stringify(body));
}

/** A page position from the query: SCIM counts from 1 (startIndex) and allows count 0. */
export function paging(query: Request['query']): { start: number; count: number } {
  const number = (name: string, fallback: number) => {
    const v = query[name];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !/^-?\d{1,9}$/.test(v))
      throw new ScimError(400, `${name} must be a number`, 'invalidValue');
    return Number(v);
  };
  return {
    start: Math.max(1, number('startIndex', 1)),
    count: Math.min(MAX_COUNT, Math.max(0, number('count', 100))),
  };
}
