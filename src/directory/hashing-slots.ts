import os from 'node:os';

/** At most `size` tasks at once; the others wait their turn, first come first served. */
export class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`slots: size must be a whole number ≥ 1, not ${size}`);
    this.#free = size;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      // hand the slot straight to the next in line, so a newcomer cannot take it first
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }

  /** tasks waiting for a slot now */
  get queued(): number {
    return this.#waiting.length;
  }
}

/**
 * How many argon2id computations a process runs at once: one per core, and never the whole of libuv's thread pool.
 *
 * argon2 runs on that pool (4 threads unless UV_THREADPOOL_SIZE says otherwise), which Node also uses for file I/O,
 * DNS lookups and WebCrypto (the signatures of ID tokens). Without a limit, four sign-ins at once (or a password
 * spray) hold every pool thread for a verify's tens of milliseconds each and everything else queues behind them;
 * and more verifies than cores time-slice each other, which costs about 5 % more CPU per verify on this
 * project's 2-core test machine (`npm run bench`). Throughput stays the same: the cores are busy either way.
 */
export function argon2Concurrency(
  cores = os.availableParallelism(),
  poolThreads = Number(process.env.UV_THREADPOOL_SIZE) || 4,
): number {
  return Math.max(1, Math.min(cores, poolThreads - 1));
}
