/**
 * PostgreSQL vector search: exact SQL scan versus sketch prefilter + exact
 * rescoring, p50/p99 latency and recall@k against exact, at growing sizes of
 * one project's vectors. Run: npx tsx bench/vector-search.ts --help
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { createDb } from '../db/connection.js';
import { ensureDatabase, migrateUp } from '../db/migrate.js';
import { createHashedEmbedder } from '../src/vector/hashed-embedder.js';
import { createPostgresVectorStore } from '../src/vector/postgres-vector-store.js';
import { words } from '../src/vector/text-features.js';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    queries: { type: 'string', default: '40' },
    candidates: { type: 'string', default: '100,200,400,1000' },
    k: { type: 'string', default: '10' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    data: { type: 'string', default: 'bench/data/plan-requests.jsonl' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`Usage: npx tsx bench/vector-search.ts [options]
  --sizes 10000,100000     vectors in the searched project (cumulative: each size adds to the last)
  --queries 40             queries per measurement
  --candidates 100,200,400,1000  sketch candidates rescored exactly (two-stage variants)
  --k 10                   results per query (recall@k is measured against the exact scan)
  --database-url URL       PostgreSQL (default $BENCH_DATABASE_URL or the local "test" database)
  --data FILE              request texts that seed the synthetic corpus
Creates a throwaway schema, fills it with hashed-embedder vectors of synthetic
request-like texts (plus 20% of other projects' vectors as noise) and drops it at the end.
`);
  process.exit(0);
}

const sizes = args.sizes.split(',').map(Number);
const nQueries = Number(args.queries);
const candidateCounts = args.candidates.split(',').map(Number);
const k = Number(args.k);

/** Deterministic synthetic texts: a seed request's words, shuffled, with vocabulary noise. */
function corpus(seedTexts: string[]) {
  let s = 42;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const pick = <T>(a: T[]) => a[Math.floor(rnd() * a.length)]!;
  const vocab = [...new Set(seedTexts.flatMap(words))];
  return () => {
    const base = words(pick(seedTexts)).filter(() => rnd() < 0.7);
    const noise = Array.from({ length: 3 + Math.floor(rnd() * 8) }, () => pick(vocab));
    const all = [...base, ...noise];
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return all.join(' ');
  };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main() {
  const seeds = readFileSync(args.data, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { text: string }).text);
  const next = corpus(seeds);
  const embedder = createHashedEmbedder();
  await ensureDatabase(args['database-url']);
  const schema = `bench_vectors_${randomBytes(3).toString('hex')}`;
  const db = createDb({ url: args['database-url'], schema, poolSize: 2, applicationName: 'bench-vector-search' });
  const user = 'bench-user';
  const project = 'bench-project';
  try {
    await migrateUp(db, schema);
    const exact = createPostgresVectorStore({ db, candidates: 0 });
    const twoStage = candidateCounts.flatMap((c) =>
      (['sql', 'client'] as const).map((rescore) => ({ c, rescore, store: createPostgresVectorStore({ db, candidates: c, rescore }) })),
    );
    await exact.ensureCollection('bench', embedder.dimensions);
    const queries = (await embedder.embed(Array.from({ length: nQueries }, next))).vectors;
    const table: string[][] = [];
    let have = 0;
    for (const size of sizes) {
      const t0 = performance.now();
      while (have < size) {
        const n = Math.min(2000, size - have);
        const { vectors } = await embedder.embed(Array.from({ length: n }, next));
        await exact.upsert('bench', vectors.map((vector, i) => ({
          id: `v${have + i}`,
          vector,
          // One in five vectors belongs to another project: the filter must skip them.
          payload: { user_id: user, project_id: (have + i) % 5 === 4 ? 'other-project' : project, kind: 'doc' },
        })));
        have += n;
      }
      const perProject = Math.round(have * 0.8);
      process.stderr.write(`loaded ${have} vectors (${perProject} in the searched project) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      await sql`ANALYZE vectors`.execute(db);
      const filter = { user_id: user, project_id: project };
      // Warm the cache once so the first measured query does not pay for it.
      await exact.search('bench', queries[0]!, { filter, limit: k });
      const truth: string[][] = [];
      const exactMs: number[] = [];
      for (const q of queries) {
        const t = performance.now();
        truth.push((await exact.search('bench', q, { filter, limit: k })).map((h) => h.id));
        exactMs.push(performance.now() - t);
      }
      table.push([String(perProject), 'exact SQL scan (unnest dot product)', pct(exactMs, 50).toFixed(1), pct(exactMs, 99).toFixed(1), '1.000']);
      for (const { c, rescore, store } of twoStage) {
        const ms: number[] = [];
        let found = 0;
        for (const [i, q] of queries.entries()) {
          const t = performance.now();
          const ids = (await store.search('bench', q, { filter, limit: k })).map((h) => h.id);
          ms.push(performance.now() - t);
          found += ids.filter((id) => truth[i]!.includes(id)).length;
        }
        const recall = found / truth.reduce((s, t) => s + t.length, 0);
        table.push([String(perProject), `sketch bit_count top ${c}, exact rescore in ${rescore === 'sql' ? 'SQL' : 'client (array_send)'}`, pct(ms, 50).toFixed(1), pct(ms, 99).toFixed(1), recall.toFixed(3)]);
      }
    }
    const head = ['vectors in project', 'method', 'p50 ms', 'p99 ms', `recall@${k}`];
    const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    console.log(line(head));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of table) console.log(line(r));
  } finally {
    await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(db).catch(() => undefined);
    await db.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
