import { createClient, WatchError, type RedisClientPoolType, type RedisClientType } from 'redis';
import type { BatchOp, KeyValueStore, Update } from './kv.js';

export interface RedisKeyValueStoreOptions {
  /** put in front of every key, so that several Poort installations (or test runs) can share one Redis */
  prefix?: string;
  /** how long the first connection may take before connect() gives up (ms); later outages are retried forever */
  connectTimeoutMs?: number;
  /** PEM certificates to trust for rediss:// instead of the system CAs */
  ca?: string;
  /** the longest wait between two reconnect attempts (ms, default 5 s) */
  reconnectMaxDelayMs?: number;
  /** the most connections used at once for `update` (each WATCH transaction needs a connection of its own) */
  maxTransactionConnections?: number;
  /** how often `update` re-runs after another writer changed the key (a WATCH conflict) before it fails */
  maxUpdateAttempts?: number;
  /** told about connection errors; the client reconnects by itself, `ping` reports whether it is reachable */
  onError?: (err: Error) => void;
}

/**
 * Lua shared by the index scripts: Redis's own clock (`now`, in ms), so that every node agrees with the expiry of
 * the values. An index is a sorted set (`KEYS[1]`): each member (a full key) scored with the time it expires (its TTL
 * when it was recorded; `+inf` without one), so expired members are dropped in O(log n) and the index lives as long
 * as its longest-lived member.
 */
const INDEX_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function expire_with_last(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if #last == 0 then return end
  if last[2] == 'inf' then redis.call('PERSIST', key) else redis.call('PEXPIREAT', key, last[2]) end
end
`;

/**
 * Records `ARGV[1]` (a full key) in the index `KEYS[1]` until it expires, `ARGV[2]` ms from now (-1: never); a
 * member recorded again keeps the later of its two expiries. Members that have expired are dropped on the way, so
 * an index that keeps getting members (the sessions of an account, the rotated refresh tokens of a long-lived grant)
 * holds only the live ones, at O(log n) per member.
 */
const INDEX_ADD = `${INDEX_LUA}
local ms = tonumber(ARGV[2])
local expires = ms < 0 and math.huge or now + ms
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if current == 'inf' then current = math.huge elseif current then current = tonumber(current) end
if not current or expires > current then
  redis.call('ZADD', KEYS[1], expires == math.huge and '+inf' or string.format('%.0f', expires), ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
expire_with_last(KEYS[1])
return 1`;

/**
 * Deletes every key recorded in the index `KEYS[1]`, and the index; and so for `KEYS[2]`, the plain set the same
 * index was kept in by earlier versions of Poort (see LEGACY_INDEX).
 */
const DELETE_INDEXED = `
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do members[#members + 1] = member end
for i = 1, #members do redis.call('DEL', members[i]) end
redis.call('DEL', KEYS[1], KEYS[2])
return #members`;

/** The members of the index `KEYS[1]` that have not expired, and those of the legacy set `KEYS[2]` whose keys live. */
const INDEXED_KEYS = `${INDEX_LUA}
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%.0f', now), '+inf')
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', member) == 1 then members[#members + 1] = member end
end
return members`;

/**
 * Where earlier versions of Poort kept an index: a plain set. New indexes go elsewhere (`zidx:`), so that during a
 * rolling upgrade the nodes still on the old version keep adding to theirs without meeting a sorted set; revoking
 * and listing read both, and the old sets expire with their longest-lived member.
 */
const LEGACY_INDEX = 'idx:';

/** Backoff for reconnecting: 100 ms doubling up to `maxMs`, with jitter so that many nodes do not reconnect in step. */
export function reconnectDelay(retries: number, maxMs = 5_000): number {
  const base = Math.min(100 * 2 ** Math.min(retries, 16), maxMs);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

function ttlMs(ttlSeconds: number | undefined): number | undefined {
  return ttlSeconds === undefined ? undefined : Math.round(ttlSeconds * 1000);
}

type Client = RedisClientType;
type Pool = RedisClientPoolType;
type Multi = ReturnType<Client['multi']>;

/**
 * The key-value store on Redis, for several Poort nodes sharing ephemeral state. Values are JSON strings under
 * `<prefix>kv:<key>` with Redis's own expiry (`SET … PX`); indexes are sorted sets under `<prefix>zidx:<index>` holding
 * the full keys of their members, each scored with its expiry, and expiring with their longest-lived member. Plain
 * commands share one pipelined connection; `update` runs WATCH/MULTI/EXEC on a connection of its own from a small
 * pool and re-runs `fn` when another writer got in between. Scripts touch keys they do not declare, so this expects a
 * single Redis (or a primary with replicas), not Redis Cluster.
 *
 * As in the SQLite store, an index entry lives as long as its member's TTL when it was recorded.
 */
export class RedisKeyValueStore implements KeyValueStore {
  readonly #client: Client;
  readonly #pool: Pool;
  readonly #prefix: string;
  readonly #maxUpdateAttempts: number;
  #closed = false;

  private constructor(client: Client, pool: Pool, prefix: string, maxUpdateAttempts: number) {
    this.#client = client;
    this.#pool = pool;
    this.#prefix = prefix;
    this.#maxUpdateAttempts = maxUpdateAttempts;
  }

  /**
   * Connects to `url` (`redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS). Throws when the first
   * connection cannot be made within `connectTimeoutMs`; once connected, outages are retried with backoff and
   * commands fail at once while Redis is away (no offline queue), so callers can answer 503 instead of hanging.
   */
  static async connect(url: string, options: RedisKeyValueStoreOptions = {}): Promise<RedisKeyValueStore> {
    if (!/^rediss?:\/\//.test(url)) throw new Error('the Redis URL must start with redis:// or rediss://');
    const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    const started = Date.now();
    let ready = false;
    let lastError: Error | undefined;
    const client: Client = createClient({
      url,
      disableOfflineQueue: true,
      socket: {
        ...(options.ca ? { tls: true as const, ca: options.ca } : {}),
        connectTimeout: Math.min(connectTimeoutMs, 5_000),
        reconnectStrategy: (retries, cause) => {
          lastError = cause;
          if (!ready && Date.now() - started >= connectTimeoutMs) return cause;
          return reconnectDelay(retries, options.reconnectMaxDelayMs);
        },
      },
    }) as Client;
    const onError = (err: Error) => {
      lastError = err;
      options.onError?.(err);
    };
    // Without a listener, an 'error' event (Redis restarting) would end the process.
    client.on('error', onError);
    try {
      await client.connect();
    } catch (err) {
      client.destroy();
      throw new Error(
        `cannot connect to Redis at ${redactUrl(url)}: ${(lastError ?? (err as Error)).message}`,
        {
          cause: err,
        },
      );
    }
    ready = true;
    const pool = client.createPool({
      minimum: 1,
      maximum: options.maxTransactionConnections ?? 8,
      acquireTimeout: 5_000,
    }) as unknown as Pool;
    pool.on('error', onError);
    try {
      await pool.connect();
    } catch (err) {
      pool.destroy();
      client.destroy();
      throw new Error(`cannot connect to Redis at ${redactUrl(url)}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return new RedisKeyValueStore(client, pool, options.prefix ?? 'poort:', options.maxUpdateAttempts ?? 100);
  }

  /** The Redis key holding a value. */
  private valueKey(key: string): string {
    return `${this.#prefix}kv:${key}`;
  }

  private indexKey(index: string): string {
    return `${this.#prefix}zidx:${index}`;
  }

  /** An index and the plain set earlier versions kept it in: the keys of DELETE_INDEXED and INDEXED_KEYS. */
  private indexKeys(index: string): string[] {
    return [this.indexKey(index), `${this.#prefix}${LEGACY_INDEX}${index}`];
  }

  async get<T>(key: string): Promise<T | undefined> {
    const raw = await this.#client.get(this.valueKey(key));
    return raw === null ? undefined : (JSON.parse(raw) as T);
  }

  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    await this.batch([{ op: 'set', key, value, ttlSeconds }]);
  }

  async delete(key: string): Promise<void> {
    await this.#client.del(this.valueKey(key));
  }

  async update<T, R>(key: string, fn: (current: T | undefined, now: number) => Update<T, R>): Promise<R> {
    const k = this.valueKey(key);
    return this.#pool.execute(async (c) => {
      for (let attempt = 1; ; attempt++) {
        await c.watch(k);
        let out: Update<T, R>;
        let existed: boolean;
        try {
          const raw = await c.get(k);
          existed = raw !== null;
          out = fn(raw === null ? undefined : (JSON.parse(raw) as T), Date.now());
        } catch (err) {
          await c.unwatch();
          throw err;
        }
        const m = c.multi();
        const ms = ttlMs(out.ttlSeconds);
        if (out.value === undefined || (ms !== undefined && ms <= 0)) m.del(k);
        else if (ms !== undefined)
          m.set(k, JSON.stringify(out.value), { expiration: { type: 'PX', value: ms } });
        else if (existed) m.set(k, JSON.stringify(out.value), { expiration: 'KEEPTTL' });
        else m.set(k, JSON.stringify(out.value));
        try {
          await m.exec();
          return out.result;
        } catch (err) {
          if (!(err instanceof WatchError)) throw err;
          if (attempt >= this.#maxUpdateAttempts) {
            throw new Error(`update of ${key} lost ${attempt} races with other writers; giving up`, {
              cause: err,
            });
          }
          // Someone else wrote the key between our read and our write: read again and re-run fn.
          if (attempt > 3) await new Promise((r) => setTimeout(r, Math.random() * Math.min(attempt, 20)));
        }
      }
    });
  }

  async indexAdd(index: string, member: string, ttlSeconds?: number): Promise<void> {
    await this.batch([{ op: 'indexAdd', index, member, ttlSeconds }]);
  }

  async deleteIndexed(index: string): Promise<void> {
    await this.#client.eval(DELETE_INDEXED, { keys: this.indexKeys(index) });
  }

  async indexedKeys(index: string): Promise<string[]> {
    const prefix = this.valueKey('');
    const members = (await this.#client.eval(INDEXED_KEYS, { keys: this.indexKeys(index) })) as string[];
    return members.filter((member) => member.startsWith(prefix)).map((member) => member.slice(prefix.length));
  }

  async batch(ops: BatchOp[]): Promise<void> {
    if (ops.length === 0) return;
    const m = this.#client.multi();
    for (const o of ops) {
      if (o.op === 'set') this.queueSet(m, o.key, o.value, o.ttlSeconds);
      else {
        const ms = ttlMs(o.ttlSeconds);
        m.eval(INDEX_ADD, {
          keys: [this.indexKey(o.index)],
          arguments: [this.valueKey(o.member), String(ms === undefined ? -1 : Math.max(ms, 1))],
        });
      }
    }
    // A single command is atomic on its own and needs no MULTI around it.
    await (ops.length === 1 ? m.execAsPipeline() : m.exec());
  }

  private queueSet(m: Multi, key: string, value: unknown, ttlSeconds: number | undefined): void {
    const k = this.valueKey(key);
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError(`cannot store ${typeof value} under ${key}`);
    const ms = ttlMs(ttlSeconds);
    if (ms === undefined) m.set(k, json);
    else if (ms <= 0) m.del(k);
    else m.set(k, json, { expiration: { type: 'PX', value: ms } });
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new Error('the Redis key-value store is closed');
    await this.#client.ping();
    // `update` runs on the pool's connections, which reconnect on their own schedule after an outage
    await this.#pool.execute((c) => c.ping());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([this.#pool.close(), this.#client.close()]);
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an invalid URL)';
  }
}
