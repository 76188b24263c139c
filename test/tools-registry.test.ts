import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestContext, type TestContext } from './helpers/context.js';
import { seedPlan, seedProject, toolContext, type Owner } from './tools-fixtures.js';
import { TOOL_NAMES } from '../src/core/tool-names.js';
import { createSqlAgentBus } from '../src/tools/agent-bus.js';
import { createToolRegistry, defaultTools, type ToolRegistry } from '../src/tools/registry.js';
import { createSqlProjectMemory } from '../src/tools/sql-project-memory.js';
import { defineTool, type ToolContext } from '../src/tools/tool.js';

let t: TestContext;
let registry: ToolRegistry;
let owner: Owner;
let ctx: ToolContext;

const ALL = [...TOOL_NAMES];

beforeAll(async () => {
  t = await createTestContext('tools_registry');
  registry = createToolRegistry(defaultTools());
  owner = await seedProject(t.deps.db);
  ctx = toolContext(t.deps.db, owner, { memory: createSqlProjectMemory(t.deps.db) });
});
afterAll(() => t.cleanup());

const memoryRows = (o: Owner) =>
  t.deps.db.selectFrom('project_memory').selectAll().where('project_id', '=', o.projectId).execute();

describe('tool specs', () => {
  it('lists only the allowed tools, with JSON Schemas built from the input schemas', () => {
    const specs = registry.specsFor(['calculator', 'project_memory_search', 'no_such_tool']);
    expect(specs.map((s) => s.name)).toEqual(['calculator', 'project_memory_search']);
    const search = specs[1]!;
    expect(search.parameters).toMatchObject({
      type: 'object',
      required: ['query'],
      additionalProperties: false,
      properties: { query: { type: 'string' }, k: { type: 'integer', maximum: 20 } },
    });
    expect(search.parameters).not.toHaveProperty('$schema');
  });

  it('gives no tool to an agent with an empty allowlist', () => {
    expect(registry.specsFor([])).toEqual([]);
  });
});

describe('the allowlist', () => {
  it('refuses a tool the agent does not have and does not run it', async () => {
    const result = await registry.call('project_memory_write', { content: 'secret plan' }, ctx, ['calculator']);
    expect(result).toMatchObject({ ok: false, error: { code: 'TOOL_NOT_ALLOWED' } });
    expect(await memoryRows(owner)).toEqual([]);
  });

  it('refuses a tool that does not exist', async () => {
    const result = await registry.call('shell', { cmd: 'rm -rf /' }, ctx, [...ALL, 'shell']);
    expect(result).toEqual({ ok: false, error: { code: 'TOOL_NOT_ALLOWED', message: 'there is no tool named shell' } });
  });

  it('runs a tool that is allowed', async () => {
    expect(await registry.call('calculator', { expression: '6 * 7' }, ctx, ['calculator'])).toEqual({
      ok: true,
      output: { expression: '6 * 7', result: 42 },
    });
  });
});

describe('input validation', () => {
  it.each([
    ['calculator', { expr: '1+1' }],
    ['calculator', { expression: 42 }],
    ['calculator', 'not an object'],
    ['project_memory_search', { query: '' }],
    ['project_memory_search', { query: 'x', k: 500 }],
    ['project_memory_write', { content: 'x', kind: 'password' }],
    ['send_message', { to_agent: 'writer' }],
  ])('rejects %s with %j before running it', async (name, input) => {
    const result = await registry.call(name, input, ctx, ALL);
    expect(result).toMatchObject({ ok: false, error: { code: 'TOOL_INVALID_INPUT' } });
  });

  it('rejects fields the schema does not declare, such as another project id', async () => {
    const other = await seedProject(t.deps.db);
    const result = await registry.call(
      'project_memory_write',
      { content: 'planted', project_id: other.projectId, user_id: other.userId },
      ctx,
      ALL,
    );
    expect(result).toMatchObject({ ok: false, error: { code: 'TOOL_INVALID_INPUT' } });
    expect(await memoryRows(other)).toEqual([]);
    expect(await memoryRows(owner)).toEqual([]);
  });

  it('treats missing arguments as an empty object', async () => {
    expect(await registry.call('calculator', undefined, ctx, ALL)).toMatchObject({
      ok: false,
      error: { code: 'TOOL_INVALID_INPUT' },
    });
  });
});

describe('tool errors and time limits', () => {
  it('returns a tool error to the model instead of throwing', async () => {
    expect(await registry.call('calculator', { expression: '1/0' }, ctx, ALL)).toEqual({
      ok: false,
      error: { code: 'CALCULATOR_ERROR', message: 'division by zero' },
    });
  });

  it('stops a call that runs past its timeout, even when the tool ignores its signal', async () => {
    let sawAbort = false;
    const slow = defineTool({
      name: 'calculator',
      description: 'slow',
      input: z.strictObject({}),
      sideEffect: false,
      timeoutMs: 50,
      run: (_input, c) =>
        new Promise((resolve) => {
          c.signal.addEventListener('abort', () => (sawAbort = true));
          setTimeout(() => resolve('late'), 2_000).unref();
        }),
    });
    const started = Date.now();
    const result = await createToolRegistry([slow]).call('calculator', {}, ctx, ['calculator']);
    expect(result).toMatchObject({ ok: false, error: { code: 'TOOL_TIMEOUT' } });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(sawAbort).toBe(true);
  });

  it('rethrows an abort of the task instead of reporting it to the model', async () => {
    const controller = new AbortController();
    const hanging = defineTool({
      name: 'calculator',
      description: 'hangs',
      input: z.strictObject({}),
      sideEffect: false,
      run: () => new Promise(() => undefined),
    });
    const call = createToolRegistry([hanging]).call('calculator', {}, { ...ctx, signal: controller.signal }, ['calculator']);
    controller.abort(new Error('task cancelled'));
    await expect(call).rejects.toThrow('task cancelled');
  });

  it('refuses to register an unknown tool name or the same name twice', () => {
    const calc = defaultTools()[0]!;
    expect(() => createToolRegistry([calc, calc])).toThrow(/registered twice/);
    expect(() => createToolRegistry([{ ...calc, name: 'shell' as 'calculator' }])).toThrow(/unknown tool name/);
  });
});

describe('project memory', () => {
  it('finds what was written, ranked by full-text relevance', async () => {
    const o = await seedProject(t.deps.db);
    const c = { ...ctx, ...o };
    for (const content of [
      'The deployment uses PostgreSQL 16 with pgvector.',
      'Deployment checklist: PostgreSQL backups, PostgreSQL replicas, PostgreSQL upgrades.',
      'The team prefers tabs over spaces.',
    ]) {
      expect(await registry.call('project_memory_write', { content, kind: 'fact' }, c, ALL)).toEqual({
        ok: true,
        output: { saved: true },
      });
    }
    const result = await registry.call('project_memory_search', { query: 'postgresql deployments' }, c, ALL);
    expect(result.ok).toBe(true);
    const hits = (result as { output: { results: Array<{ content: string; score: number }> } }).output.results;
    expect(hits.map((h) => h.content)).toEqual([
      'Deployment checklist: PostgreSQL backups, PostgreSQL replicas, PostgreSQL upgrades.',
      'The deployment uses PostgreSQL 16 with pgvector.',
    ]);
    expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score);
  });

  it('records who wrote an entry', async () => {
    const o = await seedProject(t.deps.db);
    await registry.call('project_memory_write', { content: 'x' }, { ...ctx, ...o, agentName: 'coder', taskId: 't7' }, ALL);
    expect(await memoryRows(o)).toMatchObject([{ kind: 'note', content: 'x', source: 'agent:coder/task:t7', user_id: o.userId }]);
  });

  it('falls back to a substring match when the query has no searchable word', async () => {
    const o = await seedProject(t.deps.db);
    const c = { ...ctx, ...o };
    await registry.call('project_memory_write', { content: 'Agent names match ^[a-z]+$ only' }, c, ALL);
    const result = await registry.call('project_memory_search', { query: ']+$' }, c, ALL);
    expect(result).toEqual({ ok: true, output: { results: [{ content: 'Agent names match ^[a-z]+$ only', score: 0 }] } });
    // LIKE wildcards in the query are literal characters.
    const none = await registry.call('project_memory_search', { query: '_%' }, c, ALL);
    expect(none).toEqual({ ok: true, output: { results: [] } });
  });

  it('never returns another project’s entries, nor another user’s', async () => {
    const a = await seedProject(t.deps.db);
    const b = await seedProject(t.deps.db, a.userId);
    const stranger = await seedProject(t.deps.db);
    await registry.call('project_memory_write', { content: 'Project A launch code is falcon' }, { ...ctx, ...a }, ALL);

    const search = (o: Owner) => registry.call('project_memory_search', { query: 'falcon launch code' }, { ...ctx, ...o }, ALL);
    expect(await search(a)).toMatchObject({ ok: true, output: { results: [{ content: 'Project A launch code is falcon' }] } });
    expect(await search(b)).toEqual({ ok: true, output: { results: [] } });
    expect(await search(stranger)).toEqual({ ok: true, output: { results: [] } });
    // Same project id with the wrong user finds nothing either.
    expect(await search({ userId: stranger.userId, projectId: a.projectId })).toEqual({ ok: true, output: { results: [] } });
  });

  it('reports unavailable memory as a tool error', async () => {
    const { memory: _m, ...bare } = ctx;
    expect(await registry.call('project_memory_search', { query: 'x' }, bare, ALL)).toMatchObject({
      ok: false,
      error: { code: 'TOOL_UNAVAILABLE' },
    });
  });
});

describe('send_message', () => {
  it('stores the message through the agent bus and it can be read back from the inbox', async () => {
    const o = await seedProject(t.deps.db);
    const planId = await seedPlan(t.deps.db, o);
    const bus = createSqlAgentBus(t.deps.db);
    const c: ToolContext = {
      ...ctx,
      ...o,
      planId,
      taskId: 't2',
      agentName: 'researcher',
      sendMessage: async (to, text) => {
        await bus.send(planId, 't2', 'researcher', to, text);
      },
    };
    expect(await registry.call('send_message', { to_agent: 'writer', text: 'sources are in memory' }, c, ALL)).toEqual({
      ok: true,
      output: { sent: true, to_agent: 'writer' },
    });
    await registry.call('send_message', { to_agent: 'writer', text: 'second' }, c, ALL);
    await registry.call('send_message', { to_agent: 'reviewer', text: 'not for the writer' }, c, ALL);

    const inbox = await bus.inbox(planId, 'writer');
    expect(inbox.map((m) => [m.fromTaskId, m.fromAgent, m.toAgent, m.text])).toEqual([
      ['t2', 'researcher', 'writer', 'sources are in memory'],
      ['t2', 'researcher', 'writer', 'second'],
    ]);
    expect(await bus.inbox(await seedPlan(t.deps.db, o), 'writer')).toEqual([]);
  });

  it('reports messaging as unavailable when the engine gives no sender', async () => {
    expect(await registry.call('send_message', { to_agent: 'writer', text: 'hi' }, ctx, ALL)).toMatchObject({
      ok: false,
      error: { code: 'TOOL_UNAVAILABLE' },
    });
  });
});
