import { HttpClient } from '../http.js';
import { mergeLoadResults, runLoad, type LoadResult, type Workload } from '../load.js';
import {
  machineCpuMs,
  prepareEnvironment,
  seed,
  startServer,
  type BenchEnvironment,
  type RunningBenchServer,
} from '../server.js';
import { countFileEvents, sinkConfig, startWebhookReceiver, waitForCount } from '../sinks.js';
import { signInWorkload } from './signin.js';

export type SinkKind = 'file' | 'webhook';
export const SINK_KINDS: readonly SinkKind[] = ['file', 'webhook'];

/** signin.password, signin.completed and token.issued */
export const EVENTS_PER_SIGNIN = 3;
/** measured windows per server, alternated A B B A … so that a drift in the machine's other load hits both alike */
const ROUNDS = 4;
/** how long the shipper may lag behind the trail before the events count as not delivered */
const CATCH_UP_MS = 5000;

export interface SinkComparison {
  concurrency: number;
  rounds: number;
  windowMs: number;
  /** the server without sinks, and the one with them: the windows of each merged */
  plain: LoadResult;
  sinked: LoadResult;
  sinks: SinkKind[];
  /** sign-ins completed on the server with sinks, warm-up included */
  signIns: number;
  /** events the sinks must hold at least: sign-ins × EVENTS_PER_SIGNIN */
  expectedEvents: number;
  fileEvents: number;
  /** 0 without a webhook sink */
  webhookEvents: number;
  webhookRequests: number;
  /** the longest wait after a window for both sinks to hold every event so far */
  maxCatchUpMs: number;
  delivered: boolean;
  /** the servers' last output, for error reports */
  output: { plain: string; sinked: string };
}

/** How a scenario that compares two servers in alternating windows is run. */
export interface ComparisonOptions {
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  users: number;
  log: (line: string) => void;
  /** registers cleanup work for the caller to run (in reverse order), also on a signal */
  onCleanup: (fn: () => Promise<void> | void) => void;
}

interface Side {
  env: BenchEnvironment;
  server: RunningBenchServer;
  http: HttpClient;
  workload: Workload;
  /** sign-ins completed, warm-ups included */
  completed: number;
  windows: LoadResult[];
}

/**
 * The complete password sign-in of the `signin` scenario against two servers on fresh stores, one with no audit sinks
 * and one shipping the trail to a file sink and/or a webhook (a receiver in this process on loopback that answers 200
 * at once), in alternating windows. Afterwards the sinks must hold every event of every sign-in.
 */
export async function signInSinkComparison(
  options: ComparisonOptions & {
    /** the sinks of the second server; default both */
    sinks?: readonly SinkKind[];
  },
): Promise<SinkComparison> {
  const { concurrency, log } = options;
  const kinds = options.sinks ?? SINK_KINDS;
  const withFile = kinds.includes('file');
  const receiver = kinds.includes('webhook') ? await startWebhookReceiver() : undefined;
  if (receiver) options.onCleanup(() => receiver.close());

  const side = async (extraConfig?: (dir: string) => string): Promise<Side> => {
    const env = await prepareEnvironment({ extraConfig });
    options.onCleanup(() => env.remove());
    await seed(env, options.users);
    const server = await startServer(env);
    options.onCleanup(() => server.stop());
    const http = new HttpClient(server.port, server.hostHeader, concurrency);
    options.onCleanup(() => http.close());
    const inner = signInWorkload(http, server.issuer, concurrency);
    const s: Side = {
      env,
      server,
      http,
      completed: 0,
      windows: [],
      workload: {
        ...inner,
        async op(vu) {
          await inner.op(vu);
          s.completed++;
        },
      },
    };
    return s;
  };
  log(
    `signin-sink: seeding two stores, starting a server without sinks and one with ${kinds.join(' + ')} sinks ...`,
  );
  const plain = await side();
  const sinked = await side((dir) => sinkConfig(dir, { file: withFile, webhookPort: receiver?.port }));
  log(`signin-sink: servers pid ${plain.server.pid} (no sinks) and ${sinked.server.pid} (sinks) ready`);

  const expected = () => sinked.completed * EVENTS_PER_SIGNIN;
  const fileEvents = () => (withFile ? countFileEvents(sinked.env.dir) : Infinity);
  const caughtUp = () => Math.min(fileEvents(), receiver?.events() ?? Infinity);
  let maxCatchUpMs = 0;
  const windowMs = options.durationMs / ROUNDS;
  const order: Side[] = [];
  for (let round = 0; round < ROUNDS; round++)
    order.push(...(round % 2 === 0 ? [plain, sinked] : [sinked, plain]));
  log(
    `signin-sink: concurrency ${concurrency}, ${ROUNDS} × ${windowMs / 1000} s per server, alternating (${options.warmupMs / 1000} s warm-up first) ...`,
  );
  for (const s of order) {
    const result = await runLoad(s.workload, {
      warmupMs: s.windows.length === 0 ? options.warmupMs : 0,
      durationMs: windowMs,
      serverCpuMs: s.server.cpuMs,
      machineCpuMs,
    });
    s.windows.push(result);
    if (result.errors > 0) break;
    if (s === sinked) {
      // Let the shipper finish before the next window, so that it runs in this server's windows only.
      const { waitedMs } = await waitForCount(caughtUp, expected(), CATCH_UP_MS);
      maxCatchUpMs = Math.max(maxCatchUpMs, waitedMs);
    }
  }
  const final = await waitForCount(caughtUp, expected(), CATCH_UP_MS);
  maxCatchUpMs = Math.max(maxCatchUpMs, final.waitedMs);
  return {
    concurrency,
    rounds: ROUNDS,
    windowMs,
    plain: mergeLoadResults(plain.windows),
    sinked: mergeLoadResults(sinked.windows),
    sinks: [...kinds],
    signIns: sinked.completed,
    expectedEvents: expected(),
    fileEvents: withFile ? countFileEvents(sinked.env.dir) : 0,
    webhookEvents: receiver?.events() ?? 0,
    webhookRequests: receiver?.requests() ?? 0,
    maxCatchUpMs,
    delivered: sinked.completed > 0 && caughtUp() >= expected(),
    output: { plain: plain.server.output(), sinked: sinked.server.output() },
  };
}
