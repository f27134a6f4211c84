import { eventOf, recordedBy, type Change } from '../audit/recorded.js';
import type { Services } from '../server/services.js';
import type { Db } from '../store/database.js';
import { cliActor } from './actor.js';

export { subject, type Change } from '../audit/recorded.js';

/** Appends events with the CLI as actor: the operating-system user running it. */
export async function record(services: Services, ...changes: Change[]): Promise<void> {
  for (const change of changes) await services.audit.append(eventOf(cliActor(), change));
}

/** Runs a change and records it with the CLI as actor, in one transaction (see `recordedBy`). */
export async function recorded<T>(
  services: Services,
  fn: (db: Db) => Promise<{ result: T; changes: Change[] }>,
): Promise<T> {
  return recordedBy(services, cliActor(), fn);
}
