import { describe, expect, it } from 'vitest';
import { keyedBatcher } from '../src/util/batcher.js';

describe('keyedBatcher', () => {
  it('runs the calls of one turn together and later calls as the next batch', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const call = keyedBatcher<number, number>(async (_k, items) => {
      batches.push(items);
      if (batches.length === 1) await gate;
      return items.map((i) => i * 10);
    });
    const first = [call('a', 1), call('a', 2)];
    await new Promise((r) => setImmediate(r));
    // The first batch is in flight: these wait and go together.
    const second = [call('a', 3), call('a', 4), call('a', 5)];
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([[1, 2]]);
    release();
    expect(await Promise.all([...first, ...second])).toEqual([10, 20, 30, 40, 50]);
    expect(batches).toEqual([[1, 2], [3, 4, 5]]);
  });

  it('keeps keys apart, caps the batch size and rejects a failed batch only', async () => {
    const seen: Array<[string, number[]]> = [];
    const call = keyedBatcher<number, number>(
      async (k, items) => {
        seen.push([k, items]);
        if (k === 'bad') throw new Error('boom');
        return items;
      },
      { maxBatch: 2 },
    );
    const ok = Promise.all([call('x', 1), call('x', 2), call('x', 3), call('y', 9)]);
    const bad = call('bad', 0);
    await expect(bad).rejects.toThrow('boom');
    expect(await ok).toEqual([1, 2, 3, 9]);
    expect(seen).toContainEqual(['x', [1, 2]]);
    expect(seen).toContainEqual(['x', [3]]);
    expect(seen).toContainEqual(['y', [9]]);
  });

  it('rejects when run returns the wrong number of results', async () => {
    const call = keyedBatcher<number, number>(async () => []);
    await expect(call('k', 1)).rejects.toThrow('returned 0 results');
  });
});
