import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPlanningMessages, buildRepairMessages, repairRound } from '../src/core/plan/prompt.js';
import { PLAN_JSON_SCHEMA } from '../src/core/plan/plan-schema.js';

const DIR = join(import.meta.dirname, '../src/core/plan');
/** Infrastructure the domain core must not reach: it gets what it needs through parameters and ports. */
const FORBIDDEN = /^(hono|@hono\/|bullmq|ioredis|pg|kysely|openai|@anthropic-ai\/|@qdrant\/|gpt-tokenizer|node:(fs|net|http|https|child_process))/;

describe('the planner core', () => {
  it('imports no I/O library, and nothing outside src/core except type-only schema types', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const source = readFileSync(join(DIR, file), 'utf8');
      for (const m of source.matchAll(/^import\s+(type\s+)?[^'"]*from\s+'([^']+)'/gm)) {
        const [, typeOnly, spec] = m;
        expect(FORBIDDEN.test(spec!), `${file} imports ${spec}`).toBe(false);
        // '../../' leaves src/core: only types may come from there (db/schema.ts's row types).
        if (spec!.startsWith('../../')) expect(typeOnly, `${file}: value import of ${spec} from outside the core`).toBeTruthy();
      }
    }
  });
});

describe('the planning prompt', () => {
  const agents = [
    { name: 'researcher', role: 'Finds sources', capabilities: ['research'], tools: ['http_fetch'] },
    { name: 'writer', role: 'Writes', capabilities: [], tools: [] },
  ];

  it('lists every agent with role, capabilities and tools, the schema and the limit, then the request', () => {
    const [system, user] = buildPlanningMessages({ request: 'Compare X and Y', agents, maxTasks: 7 });
    expect(system!.role).toBe('system');
    expect(system!.content).toContain('- researcher: Finds sources (capabilities: research; tools: http_fetch)');
    expect(system!.content).toContain('- writer: Writes (capabilities: general; tools: none)');
    expect(system!.content).toContain(JSON.stringify(PLAN_JSON_SCHEMA.schema));
    expect(system!.content).toContain('never more than 7');
    expect(user).toEqual({ role: 'user', content: expect.stringContaining('Compare X and Y') });
  });

  it('repairs by sending back the rejected answer and every issue', () => {
    const first = buildPlanningMessages({ request: 'r', agents, maxTasks: 5 });
    expect(repairRound(first)).toBe(0);
    const repair = buildRepairMessages(first, '{"tasks":[]}', [
      { code: 'EMPTY_PLAN', message: 'the plan has no tasks' },
      { code: 'CYCLE', message: 'dependency cycle: t1 → t2 → t1' },
    ]);
    expect(repair.slice(0, 2)).toEqual(first);
    expect(repair[2]).toEqual({ role: 'assistant', content: '{"tasks":[]}' });
    expect(repair[3]!.content).toContain('- [CYCLE] dependency cycle: t1 → t2 → t1');
    expect(repair[3]!.content).toContain('- [EMPTY_PLAN]');
    expect(repairRound(repair)).toBe(1);
  });
});
