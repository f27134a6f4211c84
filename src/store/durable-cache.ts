/**
 * Look-ups of durable data kept in memory until the durable store's change counter moves (another process, such as
 * the CLI, committed) or this process changed the data itself. A missing entry is cached too (`undefined`), so an
 * unknown id does not reach the store on every request.
 */
export class DurableCache<T> {
  readonly #entries = new Map<string, T | undefined>();
  #cachedAt = -1;
  #ownChanges = 0;

  /** `changes` returns a number that moves whenever the store changed; NaN (no counter) never caches. */
  constructor(
    private readonly changes: () => number,
    private readonly maxEntries = 10_000,
  ) {}

  async get(key: string, load: (key: string) => Promise<T | undefined>): Promise<T | undefined> {
    const version = this.changes() + this.#ownChanges * 2 ** 32;
    if (version !== this.#cachedAt || Number.isNaN(version)) {
      this.#entries.clear();
      this.#cachedAt = version;
    } else if (this.#entries.has(key)) {
      return this.#entries.get(key);
    }
    const value = await load(key);
    if (this.#entries.size >= this.maxEntries) this.#entries.clear();
    this.#entries.set(key, value);
    return value;
  }

  /** This process changed the data: the next look-up reads the store again. */
  changed(): void {
    this.#ownChanges += 1;
  }
}
