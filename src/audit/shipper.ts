import type { Logger } from '../log/logger.js';
import type { KeyValueStore } from '../store/kv.js';
import type { Lease } from '../store/lease.js';
import type { StoredAuditEvent } from './event.js';
import type { AuditLog } from './log.js';
import { SINK_FAILURE_TTL_SECONDS, sinkFailureKey, type SinkFailure } from './sink-failures.js';
import type { SinkConfig } from './sinks/config.js';
import { createSink, type CreateSinkOptions } from './sinks/index.js';
import { errorMessage, type Sink } from './sinks/sink.js';

/** The key of the lease that lets one node of several ship and keep the trail (checkpoints, retention). */
export const AUDIT_LEASE = 'audit:lease';

export interface SinkStatus {
  name: string;
  /** the last event the sink took */
  cursor: number;
  /** events appended after the cursor */
  lag: number;
  /** why the last attempt failed, while failing */
  lastError?: string;
  failing: boolean;
}

export interface AuditShipperOptions {
  audit: AuditLog;
  sinks: Sink[];
  logger: Logger;
  /** events per delivery for sinks that do not set their own; default 100 */
  batchSize?: number;
  /** how often the trail is checked for events other processes (the CLI) appended; default 1000 ms */
  pollIntervalMs?: number;
  /** retry delays: `initialMs` doubling per failure up to `maxMs`, ±20 % jitter; default 250 ms to 30 s */
  retry?: { initialMs?: number; maxMs?: number };
  /** how long `stop` waits for in-flight batches; default 5000 ms */
  stopTimeoutMs?: number;
  /**
   * how long after an append the sinks wait for more before delivering; default 500 ms. Delivering every event on
   * its own costs a trail read, a send and a cursor write each, which under load costs the sign-ins themselves.
   */
  gatherMs?: number;
  /**
   * Several nodes on one trail: only the node holding this lease ships, the others stand by and take over when it
   * stops or dies. Without it, every node would deliver every event to every sink.
   */
  lease?: Pick<Lease, 'hold' | 'release'>;
  /**
   * Where a failing sink is recorded for operators on every node (`poort audit shipping`), and cleared once it takes
   * events again; `node` names this process there (the lease's holder name).
   */
  failures?: { kv: Pick<KeyValueStore, 'set' | 'delete'>; node?: string };
}

/** The wait before retry number `attempt` (1, 2, …): initial·2^(attempt−1), capped at max, ±20 % jitter. */
export function backoffDelay(
  attempt: number,
  initialMs = 250,
  maxMs = 30_000,
  random: () => number = Math.random,
): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(Math.min(maxMs, base * (0.8 + 0.4 * random())));
}

interface SinkState {
  sink: Sink;
  batchSize: number;
  cursor: number;
  failing: boolean;
  lastError?: string;
  /** failed attempts in a row */
  attempts: number;
  /** when this run of failures began */
  failingSince?: string;
  /** a failure record may be in the store (this node's, or one left by another node or an earlier run) */
  recorded: boolean;
  /** set by appends; an empty read while it is set reads again instead of waiting */
  dirty: boolean;
  waiting?: 'idle' | 'backoff';
  wake?: () => void;
  /** the batch being delivered, for the stop log */
  inFlight?: { from: number; to: number };
  loop?: Promise<void>;
}

/**
 * Ships the audit trail to every sink, each from its own durable cursor: read the events after the cursor, deliver
 * them, move the cursor. A sink loop wakes on every append in this process and on a one-second poll (the CLI and
 * other nodes append from other processes). Failures are retried with exponential backoff, never skipping or
 * reordering an event. Appends never wait for a sink: the append listener only flips a flag. Delivery is
 * at-least-once: a crash between delivery and the cursor update sends the batch again, and receivers de-duplicate by
 * event id. With a lease (several nodes), one node ships and reads the cursors again whenever it takes over.
 */
export class AuditShipper {
  readonly #audit: AuditLog;
  readonly #logger: Logger;
  readonly #states: SinkState[];
  readonly #pollIntervalMs: number;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #stopTimeoutMs: number;
  /** the newest seq known to exist */
  #head = 0;
  #started = false;
  #stopping = false;
  #polling = false;
  readonly #gatherMs: number;
  #gatherTimer?: NodeJS.Timeout;
  #pollTimer?: NodeJS.Timeout;
  #unsubscribe?: () => void;
  #stopped?: Promise<void>;
  readonly #lease?: Pick<Lease, 'hold' | 'release'>;
  /** whether this node ships (always, without a lease) */
  #leading: boolean;
  #checking?: Promise<boolean>;
  readonly #failures?: AuditShipperOptions['failures'];

  constructor(options: AuditShipperOptions) {
    const names = new Set<string>();
    for (const sink of options.sinks) {
      if (names.has(sink.name))
        throw new Error(`two audit sinks are named "${sink.name}"; every sink needs its own name`);
      names.add(sink.name);
    }
    this.#audit = options.audit;
    this.#logger = options.logger;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#initialMs = options.retry?.initialMs ?? 250;
    this.#maxMs = options.retry?.maxMs ?? 30_000;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? 5000;
    this.#gatherMs = options.gatherMs ?? 500;
    this.#lease = options.lease;
    this.#leading = !options.lease;
    const batchSize = options.batchSize ?? 100;
    this.#states = options.sinks.map((sink) => ({
      sink,
      batchSize: sink.batchSize ?? batchSize,
      cursor: 0,
      failing: false,
      attempts: 0,
      recorded: true,
      dirty: false,
    }));
    this.#failures = options.failures;
  }

  /** Loads the cursors and starts one loop per sink; resolves once they run. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('the audit shipper was already started');
    this.#started = true;
    if (this.#states.length === 0) return;
    this.#unsubscribe = this.#audit.onAppend((event) => this.#appended(event));
    try {
      const [newest] = await this.#audit.query({ limit: 1 });
      this.#head = Math.max(this.#head, newest?.seq ?? 0);
      for (const state of this.#states) state.cursor = await this.#audit.cursor(state.sink.name);
    } catch (err) {
      this.#unsubscribe();
      throw err;
    }
    this.#pollTimer = setInterval(() => void this.#poll(), this.#pollIntervalMs);
    this.#pollTimer.unref();
    for (const state of this.#states) state.loop = this.#run(state);
    this.#logger.info(
      { event: 'audit.shipping.started', sinks: this.#states.map((s) => s.sink.name) },
      'audit shipping started',
    );
  }

  /**
   * Stops the loops, waits up to the stop timeout for batches in flight to be delivered (their cursors then move),
   * and closes the sinks. A batch still in flight after that is abandoned and sent again at the next start.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  /** Whether this node ships the trail now: always without a lease, else while it holds the lease. */
  get shipping(): boolean {
    return this.#leading;
  }

  /** Per sink: cursor, lag, whether it is failing and why (as this node knows them: current where it ships). */
  status(): SinkStatus[] {
    return this.#states.map((s) => ({
      name: s.sink.name,
      cursor: s.cursor,
      lag: Math.max(0, this.#head - s.cursor),
      failing: s.failing,
      ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
    }));
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#gatherTimer);
    this.#unsubscribe?.();
    for (const state of this.#states) state.wake?.();
    const loops = Promise.all(this.#states.map((s) => s.loop));
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      loops.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.#stopTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (!finished) {
      const busy = this.#states.filter((s) => s.inFlight).map((s) => ({ sink: s.sink.name, ...s.inFlight }));
      this.#logger.warn(
        { event: 'audit.shipping.abandoned', batches: busy },
        'audit batches still in flight at stop; they are sent again at the next start',
      );
    }
    await Promise.all(
      this.#states.map((s) =>
        s.sink
          .close()
          .catch((err: unknown) =>
            this.#logger.warn(
              { sink: s.sink.name, error: errorMessage(err) },
              'audit sink did not close cleanly',
            ),
          ),
      ),
    );
    if (this.#lease) {
      // also when another part of this process (the housekeeping) took the lease since the last check
      this.#leading = false;
      await this.#lease
        .release()
        .catch((err: unknown) =>
          this.#logger.warn({ error: errorMessage(err) }, 'could not give up the audit shipping lease'),
        );
    }
    if (this.#started && this.#states.length > 0) {
      this.#logger.info({ event: 'audit.shipping.stopped' }, 'audit shipping stopped');
    }
  }

  /**
   * Whether this node ships now. With a lease: holds it (taking it when free, renewing it in time), and on taking it
   * over reads every sink's cursor again first, since another node may have moved it. Concurrent callers share one
   * check, so no loop reads before the cursors are current.
   */
  #ships(): Promise<boolean> {
    if (!this.#lease) return Promise.resolve(true);
    this.#checking ??= this.#check().finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  async #check(): Promise<boolean> {
    const held = await this.#lease!.hold();
    if (held && !this.#leading) {
      try {
        for (const state of this.#states) {
          state.cursor = Math.max(state.cursor, await this.#audit.cursor(state.sink.name));
          // the node before may have left a failure record: the next delivery clears it
          state.recorded = true;
        }
      } catch (err) {
        this.#logger.debug({ error: errorMessage(err) }, 'audit shipper could not read the sink cursors');
        return false;
      }
      this.#logger.info({ event: 'audit.shipping.taken' }, 'this node ships the audit trail');
    } else if (!held && this.#leading) {
      this.#logger.info({ event: 'audit.shipping.handed' }, 'another node ships the audit trail');
    }
    this.#leading = held;
    return held;
  }

  #appended(event: StoredAuditEvent): void {
    if (event.seq > this.#head) this.#head = event.seq;
    for (const state of this.#states) state.dirty = true;
    if (this.#gatherTimer || this.#stopping) return;
    this.#gatherTimer = setTimeout(() => {
      this.#gatherTimer = undefined;
      for (const state of this.#states) if (state.waiting === 'idle') state.wake?.();
    }, this.#gatherMs);
    this.#gatherTimer.unref();
  }

  /**
   * Finds events appended by other processes (the newest one's seq: one row, however many there are) and wakes the
   * sinks that are behind; with a lease, keeps it or takes it over first, and stands by without it.
   */
  async #poll(): Promise<void> {
    if (this.#polling || this.#stopping) return;
    this.#polling = true;
    try {
      if (!(await this.#ships())) return;
      const [newest] = await this.#audit.query({ limit: 1 });
      if (newest && newest.seq > this.#head) this.#head = newest.seq;
    } catch (err) {
      this.#logger.debug({ error: errorMessage(err) }, 'audit shipper could not read the trail head');
    } finally {
      this.#polling = false;
    }
    for (const state of this.#states) {
      if (state.waiting === 'idle' && state.cursor < this.#head) state.wake?.();
    }
  }

  async #run(state: SinkState): Promise<void> {
    const name = state.sink.name;
    while (!this.#stopping) {
      state.dirty = false;
      if (!(await this.#ships())) {
        await this.#wait(state, 'idle');
        continue;
      }
      let batch: StoredAuditEvent[];
      try {
        batch = await this.#audit.readAfter(state.cursor, state.batchSize);
      } catch (err) {
        await this.#failed(state, err);
        continue;
      }
      if (batch.length === 0) {
        if (!state.dirty) await this.#wait(state, 'idle');
        continue;
      }
      const from = batch[0]!.seq;
      const to = batch[batch.length - 1]!.seq;
      if (to > this.#head) this.#head = to;
      state.inFlight = { from, to };
      try {
        await Promise.resolve().then(() => state.sink.deliver(batch));
        await this.#audit.setCursor(name, to);
      } catch (err) {
        state.inFlight = undefined;
        await this.#failed(state, err);
        continue;
      }
      state.inFlight = undefined;
      state.cursor = to;
      if (state.failing) {
        this.#logger.info({ sink: name, attempts: state.attempts }, 'audit sink delivering again');
      }
      state.failing = false;
      state.attempts = 0;
      state.lastError = undefined;
      state.failingSince = undefined;
      if (state.recorded) await this.#clearFailure(state);
      this.#logger.debug({ sink: name, from, to, count: batch.length }, 'audit events shipped');
    }
  }

  async #failed(state: SinkState, err: unknown): Promise<void> {
    if (this.#stopping) return;
    state.attempts += 1;
    state.failing = true;
    state.lastError = errorMessage(err);
    const delay = backoffDelay(state.attempts, this.#initialMs, this.#maxMs);
    const fields = {
      sink: state.sink.name,
      attempt: state.attempts,
      retryInMs: delay,
      error: state.lastError,
    };
    if (state.attempts === 1) this.#logger.error(fields, 'audit sink delivery failed');
    else this.#logger.warn(fields, 'audit sink delivery failed again');
    await this.#recordFailure(state);
    await this.#wait(state, 'backoff', delay);
  }

  /** Tells operators on every node (a record in the shared store); a store that cannot be reached leaves the log. */
  async #recordFailure(state: SinkState): Promise<void> {
    if (!this.#failures) return;
    const now = new Date().toISOString();
    state.failingSince ??= now;
    const failure: SinkFailure = {
      since: state.failingSince,
      attempts: state.attempts,
      error: state.lastError ?? 'unknown error',
      at: now,
      ...(this.#failures.node !== undefined ? { node: this.#failures.node } : {}),
    };
    state.recorded = true;
    try {
      await this.#failures.kv.set(sinkFailureKey(state.sink.name), failure, SINK_FAILURE_TTL_SECONDS);
    } catch (err) {
      this.#logger.debug({ error: errorMessage(err) }, 'could not record the audit sink failure');
    }
  }

  async #clearFailure(state: SinkState): Promise<void> {
    if (!this.#failures) return;
    try {
      await this.#failures.kv.delete(sinkFailureKey(state.sink.name));
      state.recorded = false;
    } catch (err) {
      this.#logger.debug({ error: errorMessage(err) }, 'could not clear the audit sink failure');
    }
  }

  /** Until woken (an append, the poll, stop) or, for a backoff, until the delay passed; only stop ends a backoff early. */
  #wait(state: SinkState, kind: 'idle' | 'backoff', ms?: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        state.waiting = undefined;
        state.wake = undefined;
        resolve();
      };
      if (ms !== undefined) {
        timer = setTimeout(done, ms);
        timer.unref();
      }
      state.waiting = kind;
      state.wake = done;
    });
  }
}

/** The shipper for the parsed `audit.sinks` list; throws at once when a sink cannot be made (unset variable, …). */
export function createAuditShipper(
  audit: AuditLog,
  sinks: SinkConfig[],
  logger: Logger,
  options: Omit<AuditShipperOptions, 'audit' | 'sinks' | 'logger'> &
    CreateSinkOptions & {
      /** sinks of Poort's own beside the configured ones (security notices) */
      own?: Sink[];
    } = {},
): AuditShipper {
  const { env, own = [], ...rest } = options;
  return new AuditShipper({
    audit,
    sinks: [...sinks.map((c) => createSink(c, { env })), ...own],
    logger,
    ...rest,
  });
}
