import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { printTable, quantile } from './lib.js';

const HELP = `Usage: npx tsx bench/fetch-layout.ts [options]

How fast a burst of N jobs that become waiting at once reaches the processors
of one Node process, for several Worker layouts (instances × concurrency with
the same total slots): the time from the burst to each job's processor, p50
and max, over R bursts per layout, layouts interleaved. Plain BullMQ, no-op
processors that hold their slot for --hold ms.

Options:
  --burst N        jobs per burst (default 50)
  --rounds R       bursts per layout (default 10)
  --layouts LIST   instances×concurrency (default 1x64,8x8,16x4,32x2,64x1)
  --hold MS        how long each job keeps its slot (default 100)
  --redis-url URL  (default redis://127.0.0.1:6379/6)
  -h, --help`;
const { values } = parseArgs({
  options: {
    burst: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '10' },
    layouts: { type: 'string', default: '1x64,8x8,16x4,32x2,64x1' },
    hold: { type: 'string', default: '100' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379/6' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const N = Number(values.burst);
const url = values['redis-url']!;
const prefix = `fx${process.pid}`;
const connection = new Redis(url, { maxRetriesPerRequest: null });
const layouts = values.layouts!.split(',').map((l) => l.split('x').map(Number) as [number, number]);
const results = new Map<string, number[]>();
const firsts = new Map<string, number[]>();

for (let round = 0; round < Number(values.rounds); round++) {
  for (const [instances, concurrency] of layouts) {
    const name = `fx-${instances}x${concurrency}`;
    const queue = new Queue(name, { connection, prefix });
    let t0 = 0;
    const seen: number[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const workers = Array.from({ length: instances }, () =>
      new Worker(name, async () => {
        seen.push(performance.now() - t0);
        if (seen.length === N) done();
        await new Promise((r) => setTimeout(r, Number(values.hold)));
      }, { connection, prefix, concurrency }),
    );
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    await new Promise((r) => setTimeout(r, 200)); // every worker blocked, waiting
    t0 = performance.now();
    // One job each, as the engine's gate removals release them: separate calls, same tick.
    await Promise.all(Array.from({ length: N }, (_, i) => queue.add('j', { i }, { removeOnComplete: true })));
    await all;
    const key = `${instances} × ${concurrency}`;
    results.set(key, [...(results.get(key) ?? []), ...seen]);
    firsts.set(key, [...(firsts.get(key) ?? []), Math.min(...seen)]);
    await Promise.all(workers.map((w) => w.close()));
    await queue.obliterate({ force: true });
    await queue.close();
  }
}
printTable(`burst of ${N} jobs to one process`, [...results.entries()].map(([k, v]) => ({
  'instances × concurrency': k,
  'first job ms (p50 of bursts)': quantile(firsts.get(k)!, 0.5),
  'job start p50 ms': quantile(v, 0.5),
  'job start p90 ms': quantile(v, 0.9),
  'last job ms (max)': Math.max(...v),
})));
await connection.quit();
