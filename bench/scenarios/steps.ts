import { performance } from 'node:perf_hooks';
import { CookieJar, type HttpClient } from '../http.js';
import { benchUsername } from '../server.js';
import { signIn } from './signin.js';

export interface StepCost {
  /** what was measured: a request's method and path (ids as :uid), or a whole operation */
  step: string;
  /** how many of them were measured */
  count: number;
  /** server CPU per request, in milliseconds */
  mainMs: number;
  othersMs: number;
}

export interface StepsResult {
  signIns: number;
  /** per request of a sign-in */
  signInSteps: StepCost[];
  /** per request of the other flows, one at a time */
  single: StepCost[];
}

type ThreadsCpu = () => { main: number; others: number };

/** The request's shape, its ids replaced, so that the requests of every sign-in add up per step. */
function stepName(method: string, path: string): string {
  const bare = path.split('?')[0]!.replace(/^\/(signin|auth)\/[^/]+/, '/$1/:uid');
  return `${method} ${bare}`;
}

const WARMUP_OPS = 200;

/**
 * Where the server's CPU goes, request by request: operations one at a time (no overlap, so all the server does
 * between two responses belongs to the second), with each thread's exact CPU time read from schedstat around every
 * request. This attributes cost between requests; the absolute figures run higher than under load, because every
 * request finds the server idle (cold caches, a fresh event-loop wake-up) where under load these are shared.
 */
export async function measureSteps(
  http: HttpClient,
  issuer: string,
  threadsCpuNs: ThreadsCpu,
  durationMs: number,
  others: Array<{ name: string; op: () => Promise<void> }>,
): Promise<StepsResult> {
  const totals = new Map<string, { count: number; main: number; others: number }>();
  let last = threadsCpuNs();
  let counting = false;
  http.onResponse = (method, path) => {
    const now = threadsCpuNs();
    if (counting) {
      const key = stepName(method, path);
      const t = totals.get(key) ?? { count: 0, main: 0, others: 0 };
      t.count++;
      t.main += now.main - last.main;
      t.others += now.others - last.others;
      totals.set(key, t);
    }
    last = now;
  };
  const toCosts = (map: Map<string, { count: number; main: number; others: number }>) =>
    [...map].map(([step, t]) => ({
      step,
      count: t.count,
      mainMs: t.main / 1e6 / t.count,
      othersMs: t.others / 1e6 / t.count,
    }));

  const jar = new CookieJar();
  let signIns = 0;
  const single = new Map<string, { count: number; main: number; others: number }>();
  try {
    // Half the time for sign-ins, the rest shared by the other flows; each warms up first (bounded by count and time).
    const signInUntil = performance.now() + durationMs / 2;
    for (let i = 0; i < 20 && performance.now() < signInUntil; i++) {
      jar.clear();
      await signIn(http, issuer, jar, benchUsername(0));
    }
    counting = true;
    while (performance.now() < signInUntil) {
      jar.clear();
      last = threadsCpuNs();
      await signIn(http, issuer, jar, benchUsername(0));
      signIns++;
    }
    counting = false;
    http.onResponse = undefined;
    for (const flow of others) {
      const slot = durationMs / 2 / Math.max(1, others.length);
      const warmUntil = performance.now() + slot * 0.3;
      for (let i = 0; i < WARMUP_OPS && performance.now() < warmUntil; i++) await flow.op();
      const until = performance.now() + slot * 0.7;
      const t = { count: 0, main: 0, others: 0 };
      while (performance.now() < until) {
        const before = threadsCpuNs();
        await flow.op();
        const after = threadsCpuNs();
        t.count++;
        t.main += after.main - before.main;
        t.others += after.others - before.others;
      }
      if (t.count > 0) single.set(flow.name, t);
    }
  } finally {
    http.onResponse = undefined;
  }
  return { signIns, signInSteps: toCosts(totals), single: toCosts(single) };
}
