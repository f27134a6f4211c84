import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordedBy } from '../../src/audit/recorded.js';
import { UserRepository } from '../../src/directory/users.js';
import { FAST_ARGON2 } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';
import { eventsSince, lastSeq } from '../helpers/trail.js';

const actor = { type: 'admin' as const, id: 'x', name: 'hanna' };

/** A promise and the function that settles it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = () => {};
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

// A change made in the server with its events in one transaction (the administration console) shares the store with
// every sign-in going on meanwhile; their events must survive the change's rollback.
describe('a change recorded with its events, in a running server', () => {
  let poort: TestPoort;
  let userId: string;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    userId = await poort.addUser({ username: 'carla', password: 'a passphrase nobody guesses' });
  });
  afterAll(async () => poort?.stop());

  it('takes only its own events with it when it rolls back; what others appended meanwhile stays', async () => {
    const { services } = poort;
    const seq = await lastSeq(poort);
    const midway = gate();
    const inside = gate();
    const change = recordedBy(services, actor, async (db) => {
      await new UserRepository(db).setEnabled('carla', false);
      inside.open();
      await midway.wait;
      return { result: undefined, changes: [{ action: 'user.disabled', subject: { id: userId } }] };
    });
    await inside.wait;
    // another request's event while the change's transaction is open
    const other = services.audit.append({
      action: 'signin.password',
      outcome: 'failure',
      actor: { type: 'user' },
      reason: 'invalid_credentials',
    });
    midway.open();
    await change;
    const stored = await other;
    expect(stored.seq).toBeGreaterThan(seq);
    const failing = recordedBy(services, actor, async (db) => {
      await new UserRepository(db).setEnabled('carla', true);
      inside.open();
      const late = services.audit.append({ action: 'logout', outcome: 'success', actor: { type: 'user' } });
      await new Promise((resolve) => setTimeout(resolve, 20));
      void late.catch(() => undefined);
      throw Object.assign(new Error('the change fails'), { late });
    });
    const err = (await failing.catch((e: unknown) => e)) as Error & { late: Promise<unknown> };
    expect(err.message).toBe('the change fails');
    await err.late;
    const events = (await eventsSince(poort, seq)).map((e) => e.action);
    // in this order on SQLite (the others wait for the transaction); on PostgreSQL the others may come first
    expect(events.sort()).toEqual(['logout', 'signin.password', 'user.disabled']);
    expect((await services.users.findById(userId))!.enabled).toBe(false);
    expect((await services.audit.verify()).ok).toBe(true);
  });
});
