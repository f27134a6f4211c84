import { sql } from 'kysely';
import type { Services } from './services.js';

export type BackendState = 'up' | 'down';

export interface Readiness {
  ready: boolean;
  durable: { store: 'sqlite' | 'postgres'; status: BackendState };
  ephemeral: { store: 'sqlite' | 'redis'; status: BackendState };
}

/** Longer than a healthy store ever takes, shorter than a load balancer's probe timeout. */
const CHECK_TIMEOUT_MS = 3_000;

async function answers(check: () => Promise<unknown>): Promise<BackendState> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no answer in time')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'up';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

/** Asks both stores at once whether they answer; which one is down is part of the answer (never why: it is public). */
export async function readiness(services: Services): Promise<Readiness> {
  const { storage } = services.config;
  const [durable, ephemeral] = await Promise.all([
    answers(() => sql`SELECT 1`.execute(services.db)),
    answers(() => services.kv.ping()),
  ]);
  return {
    ready: durable === 'up' && ephemeral === 'up',
    durable: { store: storage.durable, status: durable },
    ephemeral: { store: storage.ephemeral, status: ephemeral },
  };
}
