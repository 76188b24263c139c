import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { starterPack } from '../src/agents/starter-pack.js';
import { validateAgentConfig } from '../src/agents/agent-config.js';
import { DEFAULT_PRICES, KNOWN_PROVIDERS } from '../src/llm/prices.js';
import { TOOL_NAMES } from '../src/core/tool-names.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { clientFor, signToken, walkPages, type Client } from './helpers/http.js';

let ctx: TestContext;
let api: Client;
let projectId: string;
beforeAll(async () => {
  ctx = await createTestContext('api-agents');
  api = clientFor(createApp(ctx.deps), await signToken());
  projectId = (await api.post('/v1/projects', { name: 'Agents' })).body.id;
});
afterAll(() => ctx.cleanup());

const agents = () => `/v1/projects/${projectId}/agents`;
const config = (over: Record<string, unknown> = {}) => ({
  role: 'Translates text',
  system_prompt: 'You translate English to French faithfully.',
  model: 'gpt-4o-mini',
  ...over,
});

describe('starter pack', () => {
  it.each(KNOWN_PROVIDERS)('is a valid config for provider %s, with priced models', (provider) => {
    for (const a of starterPack(provider)) {
      expect(() => validateAgentConfig(DEFAULT_PRICES, a.config)).not.toThrow();
      expect(a.config.provider).toBe(provider);
      expect(a.config.system_prompt.split('. ').length).toBeGreaterThanOrEqual(3);
      expect(a.config.tools).not.toContain('http_fetch');
      expect(a.config.tools.every((t) => (TOOL_NAMES as readonly string[]).includes(t))).toBe(true);
    }
  });

  it("uses the deployment's default provider", async () => {
    const res = await api.get(agents());
    expect(res.body.items.every((a: { config: { provider: string } }) => a.config.provider === ctx.config.LLM_PROVIDER)).toBe(true);
    expect(res.body.items.find((a: { name: string }) => a.name === 'manager').config.model).toBe('gpt-4o');
  });

  it('can be disabled like any agent', async () => {
    const list = await api.get(agents());
    const writer = list.body.items.find((a: { name: string }) => a.name === 'writer');
    const res = await api.patch(`${agents()}/${writer.id}`, { status: 'disabled' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'disabled', starter_pack: true });
  });
});

describe('agents CRUD', () => {
  it('creates an agent with defaults filled in', async () => {
    const res = await api.post(agents(), { name: 'translator', config: config() });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.any(String),
      project_id: projectId,
      name: 'translator',
      config: {
        role: 'Translates text',
        system_prompt: 'You translate English to French faithfully.',
        provider: ctx.config.LLM_PROVIDER,
        model: 'gpt-4o-mini',
        temperature: expect.any(Number),
        max_output_tokens: expect.any(Number),
        tools: [],
        capabilities: [],
      },
      status: 'active',
      starter_pack: false,
      created_at: expect.any(String),
    });
  });

  it('gets an agent by id', async () => {
    const a = await api.post(agents(), { name: 'getter', config: config() });
    const res = await api.get(`${agents()}/${a.body.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(a.body);
  });

  it('merges a partial config patch over the stored config', async () => {
    const a = await api.post(agents(), { name: 'patchy', config: config({ temperature: 0.5, tools: ['calculator'] }) });
    const res = await api.patch(`${agents()}/${a.body.id}`, { config: { temperature: 1.2 } });
    expect(res.status).toBe(200);
    expect(res.body.config).toEqual({ ...a.body.config, temperature: 1.2 });
  });

  it('renames an agent', async () => {
    const a = await api.post(agents(), { name: 'before', config: config() });
    const res = await api.patch(`${agents()}/${a.body.id}`, { name: 'after' });
    expect(res.body.name).toBe('after');
  });

  it('deletes an agent', async () => {
    const a = await api.post(agents(), { name: 'gone', config: config() });
    expect((await api.delete(`${agents()}/${a.body.id}`)).status).toBe(204);
    expect((await api.get(`${agents()}/${a.body.id}`)).status).toBe(404);
  });

  it('answers 404 for an agent id that does not exist', async () => {
    const res = await api.get(`${agents()}/${crypto.randomUUID()}`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});

describe('agent validation', () => {
  it('refuses a duplicate name in the project with 409', async () => {
    const res = await api.post(agents(), { name: 'manager', config: config() });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'conflict', details: [expect.objectContaining({ field: 'name' })] });
  });

  it('refuses renaming onto an existing name with 409', async () => {
    const a = await api.post(agents(), { name: 'renamer', config: config() });
    const res = await api.patch(`${agents()}/${a.body.id}`, { name: 'researcher' });
    expect(res.status).toBe(409);
  });

  it('refuses a model missing from the price table with 400 naming config.model', async () => {
    const res = await api.post(agents(), { name: 'ghost', config: config({ model: 'gpt-9-ultra' }) });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'config.model' })]);
  });

  it("refuses a model of another provider's price table", async () => {
    const res = await api.post(agents(), { name: 'mismatch', config: config({ provider: 'openai', model: 'claude-sonnet-4-0' }) });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('config.model');
  });

  it('refuses a patch whose merged config has an unknown model', async () => {
    const a = await api.post(agents(), { name: 'switcher', config: config() });
    const res = await api.patch(`${agents()}/${a.body.id}`, { config: { provider: 'anthropic' } });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('config.model');
    expect((await api.get(`${agents()}/${a.body.id}`)).body.config.provider).toBe(ctx.config.LLM_PROVIDER);
  });

  it('refuses an unknown provider', async () => {
    const res = await api.post(agents(), { name: 'prov', config: config({ provider: 'mistral' }) });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('config.provider');
  });

  it('refuses a temperature above 2', async () => {
    const res = await api.post(agents(), { name: 'hot', config: config({ temperature: 2.5 }) });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('config.temperature');
  });

  it('refuses max_output_tokens above 32000', async () => {
    const res = await api.post(agents(), { name: 'long', config: config({ max_output_tokens: 32_001 }) });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('config.max_output_tokens');
  });

  it('refuses a tool that does not exist', async () => {
    const res = await api.post(agents(), { name: 'tooly', config: config({ tools: ['shell'] }) });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('config.tools.0');
  });

  it('refuses a name with capitals or spaces', async () => {
    const res = await api.post(agents(), { name: 'My Agent', config: config() });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('name');
  });

  it('refuses an unknown config field', async () => {
    const res = await api.post(agents(), { name: 'extra', config: config({ top_k: 3 }) });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'config.top_k' })]);
  });

  it('refuses a status outside active/disabled', async () => {
    const a = await api.post(agents(), { name: 'stat', config: config() });
    const res = await api.patch(`${agents()}/${a.body.id}`, { status: 'paused' });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('status');
  });
});

describe('agent pagination', () => {
  it('walks every agent of the project exactly once', async () => {
    const all = await ctx.deps.db.selectFrom('user_agents').select('id').where('project_id', '=', projectId).execute();
    const seen = (await walkPages<{ id: string }>(api, agents(), 4)).items.map((a) => a.id);
    expect(seen.length).toBe(all.length);
    expect(new Set(seen)).toEqual(new Set(all.map((a) => a.id)));
  });
});
