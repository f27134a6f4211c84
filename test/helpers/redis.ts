import crypto from 'node:crypto';
import { createClient } from 'redis';

/** The Redis the tests use: POORT_TEST_REDIS_URL, else the machine's own on the default port. */
export const redisUrl = process.env.POORT_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

/** A key prefix of its own for each test run, so that runs in parallel (or left-overs) never meet. */
export function testPrefix(): string {
  return `poort-test-${process.pid}-${crypto.randomBytes(4).toString('hex')}:`;
}

/** Throws, saying how to get one, when no Redis answers at redisUrl. */
export async function requireRedis(): Promise<void> {
  const client = createClient({ url: redisUrl, socket: { connectTimeout: 2_000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    await client.close();
  } catch (err) {
    client.destroy();
    throw new Error(
      `These tests need a Redis server at ${redisUrl} (set POORT_TEST_REDIS_URL for another one), but it does not ` +
        `answer: ${(err as Error).message}. Install and start one with \`apt-get install -y redis-server\` and ` +
        `\`redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes\` ` +
        `(.ci/run starts it by itself).`,
      { cause: err },
    );
  }
}

/** Every key under `prefix`, found with SCAN MATCH (never KEYS). */
export async function keysUnder(prefix: string): Promise<string[]> {
  const client = createClient({ url: redisUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const found: string[] = [];
    for await (const keys of client.scanIterator({ MATCH: `${globEscape(prefix)}*`, COUNT: 500 })) {
      found.push(...keys);
    }
    return found;
  } finally {
    await client.close();
  }
}

/** Deletes every key under `prefix`; returns how many there were. */
export async function deleteKeysUnder(prefix: string): Promise<number> {
  const keys = await keysUnder(prefix);
  if (keys.length === 0) return 0;
  const client = createClient({ url: redisUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    for (let i = 0; i < keys.length; i += 500) await client.del(keys.slice(i, i + 500));
  } finally {
    await client.close();
  }
  return keys.length;
}

/** The TTL in ms Redis holds for a raw key (-1: none, -2: no such key). */
export async function rawPttl(key: string): Promise<number> {
  const client = createClient({ url: redisUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    return await client.pTTL(key);
  } finally {
    await client.close();
  }
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
