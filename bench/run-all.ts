/**
 * `npm run bench`: every benchmark in sequence, each in its own child process
 * (a fresh heap and event loop, and one benchmark's load never overlaps the
 * next), output streamed as it comes.
 * Run: npx tsx bench/run-all.ts --help
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { machine } from './lib.js';

interface Bench {
  name: string;
  what: string;
  /** Smaller settings for --quick (the script's own options). */
  quick: string[];
}

const BENCHES: Bench[] = [
  { name: 'engine-dag', what: 'DAG overhead: makespan ÷ critical path, dependency-release delay', quick: ['--repeat', '1', '--random', '3'] },
  { name: 'engine-throughput', what: 'completed tasks/s per worker process count, against plain BullMQ', quick: ['--plans', '200', '--processes', '1', '--plain', '2000'] },
  { name: 'chat-latency', what: 'POST chat / GET plan latency under autocannon', quick: ['--connections', '50', '--duration', '3', '--warmup', '1'] },
  { name: 'sse-fanout', what: 'publish-to-delivery latency over many SSE streams', quick: ['--streams', '200', '--events', '20'] },
  { name: 'planner', what: "planner's own cost per plan (LLM time subtracted)", quick: ['--sizes', '5,20', '--plans', '10', '--warmup', '2'] },
  { name: 'plan-cache', what: 'plan cache: labelled requests, hit and false-hit rates per similarity threshold, with and without the intent guard', quick: [] },
  { name: 'vector-search', what: 'PostgreSQL vector search: exact scan vs sketch prefilter, p50/p99 and recall@k', quick: ['--sizes', '10000', '--queries', '20'] },
  { name: 'estimate-accuracy', what: 'cost estimate error before and after per-agent history', quick: ['--plans', '60', '--first', '20', '--last', '30'] },
  { name: 'parallel-speedup', what: 'makespan with the engine’s parallelism vs one task at a time', quick: ['--dags', '3'] },
];

const HELP = `Usage: npm run bench -- [options]
       npx tsx bench/run-all.ts [options]

Prints the machine line, then runs each benchmark below in sequence as a
child process (npx tsx bench/<name>.ts), streaming its output. Each script
writes its own result file in bench/results/ where it has one. Exit status 1
when any benchmark failed (the others still run).

Options:
  --only a,b   run only these benchmarks (names below)
  --quick      smaller settings where a script has them (numbers not
               comparable with the defaults; the result files are
               overwritten all the same)
  -h, --help

Benchmarks:
${BENCHES.map((b) => `  ${b.name.padEnd(18)} ${b.what}${b.quick.length ? `\n  ${''.padEnd(18)} --quick: ${b.quick.join(' ')}` : ''}`).join('\n')}

Per-script options: npx tsx bench/<name>.ts --help`;

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

let selected = BENCHES;
if (values.only !== undefined) {
  const names = values.only.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length || names.length === 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ') || '(none given)'}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
    process.exit(2);
  }
  selected = BENCHES.filter((b) => names.includes(b.name));
}

const run = (b: Bench) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const args = ['--import', 'tsx', `bench/${b.name}.ts`, ...(values.quick ? b.quick : [])];
    console.log(`\n## ${b.name}${values.quick && b.quick.length ? ` (quick: ${b.quick.join(' ')})` : ''}\n`);
    const child = spawn(process.execPath, args, { stdio: 'inherit', env: process.env });
    child.once('error', (err) => {
      console.error(`could not start ${b.name}: ${err.message}`);
      resolve({ code: 1, signal: null });
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

console.log(`machine: ${JSON.stringify(machine())}`);
console.log(`running: ${selected.map((b) => b.name).join(', ')}${values.quick ? ' (quick)' : ''}`);
const summary: Array<{ name: string; seconds: number; outcome: string }> = [];
for (const b of selected) {
  const t0 = Date.now();
  const { code, signal } = await run(b);
  const outcome = code === 0 ? 'ok' : signal ? `killed by ${signal}` : `failed (exit ${code})`;
  summary.push({ name: b.name, seconds: (Date.now() - t0) / 1000, outcome });
  if (code !== 0) console.error(`\n${b.name}: ${outcome}`);
}
console.log('\n## Summary\n');
for (const s of summary) console.log(`${s.name.padEnd(18)} ${s.outcome.padEnd(20)} ${s.seconds.toFixed(1)} s`);
console.log(`machine at the end: ${JSON.stringify(machine())}`);
process.exit(summary.every((s) => s.outcome === 'ok') ? 0 : 1);
