import { describe, expect, it } from 'vitest';
import { DurableCache } from '../../src/store/durable-cache.js';

describe('durable cache', () => {
  it('answers from memory, unknown keys too, until the store change counter moves', async () => {
    let counter = 1;
    const loads: string[] = [];
    const cache = new DurableCache<string>(() => counter);
    const load = async (key: string) => {
      loads.push(key);
      return key === 'known' ? 'value' : undefined;
    };
    expect(await cache.get('known', load)).toBe('value');
    expect(await cache.get('known', load)).toBe('value');
    expect(await cache.get('missing', load)).toBeUndefined();
    expect(await cache.get('missing', load)).toBeUndefined();
    expect(loads).toEqual(['known', 'missing']);
    counter += 1;
    await cache.get('known', load);
    expect(loads).toEqual(['known', 'missing', 'known']);
  });

  it("reads again after this process's own change, and never caches without a counter", async () => {
    let loads = 0;
    const load = async () => ++loads;
    const cache = new DurableCache<number>(() => 7);
    await cache.get('k', load);
    cache.changed();
    expect(await cache.get('k', load)).toBe(2);
    const uncounted = new DurableCache<number>(() => Number.NaN);
    await uncounted.get('k', load);
    expect(await uncounted.get('k', load)).toBe(4);
  });

  it('starts afresh instead of growing past its bound', async () => {
    let loads = 0;
    const cache = new DurableCache<number>(() => 1, 2);
    const load = async () => ++loads;
    await cache.get('a', load);
    await cache.get('b', load);
    await cache.get('c', load);
    await cache.get('a', load);
    expect(loads).toBe(4);
  });
});
