/**
 * Replays labelled plan requests through the plan cache (real Redis and the
 * PostgreSQL vector store) and sweeps the similarity threshold with and
 * without the intent guard. Run: npx tsx bench/plan-cache.ts --help
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { createDb } from '../db/connection.js';
import { ensureDatabase, migrateUp } from '../db/migrate.js';
import { createHashedEmbedder } from '../src/vector/hashed-embedder.js';
import { createPostgresVectorStore } from '../src/vector/postgres-vector-store.js';
import { createPlanCache, DEFAULT_SIMILARITY_THRESHOLD } from '../src/cache/plan-cache.js';
import { createIntentGuard, type IntentGuardOptions } from '../src/cache/intent-guard.js';
import { createRedis, deleteKeys } from '../src/redis.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: 'bench/data/plan-requests.jsonl' },
    thresholds: { type: 'string', default: '0.45,0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9' },
    guards: { type: 'string', default: 'none,numbers+polarity,numbers+polarity+names' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`Usage: npx tsx bench/plan-cache.ts [options]
  --data FILE            labelled requests (jsonl: id, text, paraphrase_of | near_miss_of)
  --thresholds LIST      similarity thresholds to sweep (default 0.45…0.9)
  --guards LIST          intent-guard variants: none, numbers, polarity, names joined by "+"
  --database-url URL     PostgreSQL (default $BENCH_DATABASE_URL or the local "test" database)
  --redis-url URL        Redis (default $BENCH_REDIS_URL or redis://127.0.0.1:6379/0)
Replays the file in order for one project: each request is looked up; a miss is
"planned" and stored. A hit counts as correct when the cached request has the
same intent (the request itself or the one it paraphrases), otherwise as a
wrong plan served: on a near miss (labelled) or on an unrelated request.
Default threshold in src/cache/plan-cache.ts: ${DEFAULT_SIMILARITY_THRESHOLD}.
`);
  process.exit(0);
}

interface Row {
  id: string;
  text: string;
  paraphrase_of?: string;
  near_miss_of?: string;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

async function main() {
  const rows = readFileSync(args.data, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row);
  const intent = (r: Row) => r.paraphrase_of ?? r.id;
  const byText = new Map(rows.map((r) => [r.text, r]));
  const paraphrases = rows.filter((r) => r.paraphrase_of).length;
  const nearMisses = rows.filter((r) => r.near_miss_of).length;

  await ensureDatabase(args['database-url']);
  const schema = `bench_plancache_${randomBytes(3).toString('hex')}`;
  const prefix = `bench-plancache-${randomBytes(3).toString('hex')}`;
  const db = createDb({ url: args['database-url'], schema, poolSize: 2, applicationName: 'bench-plan-cache' });
  const redis = createRedis(args['redis-url'], 'bench-plan-cache');
  const embedder = createHashedEmbedder();
  const vectorStore = createPostgresVectorStore({ db });
  const table: string[][] = [];
  try {
    await migrateUp(db, schema);
    for (const guardName of args.guards.split(',')) {
      const parts = guardName === 'none' ? [] : guardName.split('+');
      const guardOpts: IntentGuardOptions = { numbers: parts.includes('numbers'), polarity: parts.includes('polarity'), names: parts.includes('names') };
      for (const threshold of args.thresholds.split(',').map(Number)) {
        const cache = createPlanCache({
          redis, prefix, embedder, vectorStore, ttlS: 3600, threshold,
          guard: parts.length ? createIntentGuard(guardOpts) : false,
        });
        const scope = { userId: randomUUID(), projectId: randomUUID(), agentSetVersion: 'bench' };
        let paraphraseHits = 0;
        let nearMissWrong = 0;
        let otherWrong = 0;
        let saved = 0;
        const ms: number[] = [];
        for (const r of rows) {
          const t = performance.now();
          const hit = await cache.lookup({ ...scope, request: r.text });
          ms.push(performance.now() - t);
          if (!hit) {
            await cache.store({ ...scope, request: r.text, plan: { tasks: [{ id: 't1', description: r.id, agent: 'a', dependencies: [] }] } });
            continue;
          }
          saved++;
          const source = byText.get(hit.cachedRequest)!;
          const correct = intent(source) === intent(r);
          if (correct && r.paraphrase_of) paraphraseHits++;
          else if (!correct && r.near_miss_of) nearMissWrong++;
          else if (!correct) otherWrong++;
        }
        table.push([
          guardName,
          threshold.toFixed(2),
          `${((100 * paraphraseHits) / paraphrases).toFixed(1)}% (${paraphraseHits}/${paraphrases})`,
          `${((100 * nearMissWrong) / nearMisses).toFixed(1)}% (${nearMissWrong}/${nearMisses})`,
          String(otherWrong),
          `${saved - nearMissWrong - otherWrong} / ${rows.length}`,
          pct(ms, 50).toFixed(2),
          pct(ms, 99).toFixed(2),
        ]);
        process.stderr.write('.');
      }
    }
    process.stderr.write('\n');
    const head = ['guard', 'threshold', 'paraphrase hits', 'near-miss wrong hits', 'other wrong hits', 'planning calls saved (correct)', 'lookup p50 ms', 'p99 ms'];
    const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    console.log(`${rows.length} requests: ${paraphrases} paraphrases, ${nearMisses} near misses; embedder ${embedder.provider}/${embedder.model}`);
    console.log(line(head));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of table) console.log(line(r));
  } finally {
    await deleteKeys(redis, `${prefix}:*`).catch(() => undefined);
    await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(db).catch(() => undefined);
    await db.destroy();
    redis.disconnect();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
