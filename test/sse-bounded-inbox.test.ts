import { describe, expect, it } from 'vitest';
import { BoundedInbox } from '../src/events/bounded-inbox.js';

interface Msg {
  name: string;
  bytes: number;
  droppable: boolean;
}
const ev = (name: string, bytes = 100): Msg => ({ name, bytes, droppable: false });
const delta = (name: string, bytes = 100): Msg => ({ name, bytes, droppable: true });

async function drain(inbox: BoundedInbox<Msg>): Promise<string[]> {
  const out: string[] = [];
  while (inbox.length > 0) out.push((await inbox.next())!.name);
  return out;
}

describe('bounded per-stream queue (slow client policy)', () => {
  it('queues in order while under the bound', async () => {
    const inbox = new BoundedInbox<Msg>(1000);
    expect([inbox.push(ev('e1')), inbox.push(delta('d1')), inbox.push(ev('e2'))]).toEqual(['queued', 'queued', 'queued']);
    expect(inbox.bytes).toBe(300);
    expect(await drain(inbox)).toEqual(['e1', 'd1', 'e2']);
    expect(inbox.bytes).toBe(0);
  });

  it('drops an incoming delta when full instead of growing', async () => {
    const inbox = new BoundedInbox<Msg>(300);
    inbox.push(ev('e1'));
    inbox.push(ev('e2'));
    inbox.push(ev('e3'));
    expect(inbox.push(delta('d1'))).toBe('dropped');
    expect(inbox.dropped).toBe(1);
    expect(inbox.bytes).toBe(300);
    expect(await drain(inbox)).toEqual(['e1', 'e2', 'e3']);
  });

  it('makes room for a durable event by dropping the oldest queued deltas first', async () => {
    const inbox = new BoundedInbox<Msg>(400);
    inbox.push(delta('d1'));
    inbox.push(ev('e1'));
    inbox.push(delta('d2'));
    inbox.push(delta('d3'));
    expect(inbox.push(ev('e2', 150))).toBe('queued');
    // 150 bytes needed beyond the bound of 400 with 400 queued: d1 and d2 go, d3 stays
    expect(inbox.dropped).toBe(2);
    expect(inbox.bytes).toBeLessThanOrEqual(400);
    expect(await drain(inbox)).toEqual(['e1', 'd3', 'e2']);
  });

  it('reports overflow when durable events alone pass the bound (the stream must close), and never drops them', async () => {
    const inbox = new BoundedInbox<Msg>(250);
    inbox.push(ev('e1'));
    inbox.push(delta('d1'));
    inbox.push(ev('e2', 50));
    expect(inbox.push(ev('e3', 150))).toBe('overflow');
    // the delta went while trying; durable events are untouched and e3 was not queued
    expect(await drain(inbox)).toEqual(['e1', 'e2']);
  });

  it('takes one message bigger than the bound when nothing is queued (the bound is on the backlog)', async () => {
    const inbox = new BoundedInbox<Msg>(100);
    expect(inbox.push(ev('big', 500))).toBe('queued');
    expect(inbox.push(ev('next', 10))).toBe('overflow');
    expect(await drain(inbox)).toEqual(['big']);
    expect(inbox.push(ev('after', 500))).toBe('queued');
  });

  it('wakes a waiting consumer, and a close ends it with undefined', async () => {
    const inbox = new BoundedInbox<Msg>(1000);
    const waiting = inbox.next();
    inbox.push(ev('e1'));
    expect((await waiting)!.name).toBe('e1');
    const pending = inbox.next();
    inbox.close();
    expect(await pending).toBeUndefined();
    expect(inbox.push(ev('late'))).toBe('dropped');
  });

  it('a producer outrunning the consumer hits overflow exactly at the bound, however long it runs', async () => {
    const inbox = new BoundedInbox<Msg>(10_000);
    let results: string[] = [];
    for (let i = 0; i < 5_000; i++) {
      results.push(inbox.push(ev(`e${i}`, 10)));
      if (i % 2 === 0) await inbox.next(); // the consumer takes one message for every two
    }
    const firstOverflow = results.indexOf('overflow');
    expect(firstOverflow).toBeGreaterThan(0);
    expect(inbox.bytes).toBeLessThanOrEqual(10_000);
    expect(results.slice(0, firstOverflow).every((r) => r === 'queued')).toBe(true);
    results = [];
  });
});
