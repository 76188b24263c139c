import { describe, expect, it } from 'vitest';
import { sseBody } from '../src/events/sse.js';

const bytes = (n: number) => new Uint8Array(n).fill(120);

describe('SSE response body', () => {
  it('takes writes at once under the high-water mark, then waits until the client reads', async () => {
    const { body, sink } = sseBody(() => undefined, 100);
    await sink.write(bytes(40));
    let resolved = false;
    const blocked = sink.write(bytes(80)).then(() => (resolved = true));
    await new Promise((r) => setImmediate(r));
    expect(resolved).toBe(false);
    const reader = body.getReader();
    expect((await reader.read()).value!.length).toBe(40);
    expect((await reader.read()).value!.length).toBe(80);
    await blocked;
    expect(resolved).toBe(true);
  });

  it('ends normally on close, after what was queued', async () => {
    const { body, sink } = sseBody(() => undefined);
    await sink.write(bytes(3));
    sink.close();
    const reader = body.getReader();
    expect((await reader.read()).value!.length).toBe(3);
    expect((await reader.read()).done).toBe(true);
  });

  it('errors the body on abort (the server cuts a too-slow client) and releases a waiting writer', async () => {
    const { body, sink } = sseBody(() => undefined, 10);
    const waiting = sink.write(bytes(20));
    sink.abort();
    await waiting;
    await expect(body.getReader().read()).rejects.toThrow(/too slow/);
  });

  it('tells the stream when the client goes away', async () => {
    let cancelled = 0;
    const { body, sink } = sseBody(() => cancelled++, 10);
    const waiting = sink.write(bytes(20));
    await body.cancel();
    await waiting;
    expect(cancelled).toBe(1);
    await sink.write(bytes(5)); // a late write is a no-op
  });
});
