import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sql } from 'kysely';
import { createApp, type App } from '../api/app.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { signToken } from './helpers/http.js';
import { seedPlan, seedProject, seedUser } from './helpers/seed.js';

// Property-based requests against every route of the app: whatever comes in,
// the answer is never a 5xx, never a stack trace or a server path, errors have
// the contract's shape and code, and a refused request changes no row.

let ctx: TestContext;
let app: App;
let token: string;
let adminToken: string;
let tables: string[];
/** Alice's real ids (requests reach the handlers) and Bob's (another tenant: 404). */
const ids: Record<string, string> = {};
const foreign: Record<string, string> = {};

const CODE_OF: Record<number, string> = {
  400: 'invalid_request', 401: 'unauthorized', 404: 'not_found', 409: 'conflict', 413: 'payload_too_large',
  415: 'unsupported_media_type', 422: 'unprocessable', 429: 'rate_limited',
};
/** What a leaked stack or server detail looks like. */
const LEAKS = [/\bat [\w$.<>]+ \(/, /\bat (file:\/\/|\/)/, /\/work\//, /node_modules/, /\.ts:\d+/, /\.js:\d+:\d+/];

/** Every (method, path template) the app serves, middleware excluded. */
const routes = () => [...new Map(app.routes.filter((r) => r.method !== 'ALL').map((r) => [`${r.method} ${r.path}`, r])).values()];

/** Row count of every table of the test schema, in one statement. */
async function rowCounts(): Promise<Record<string, number>> {
  const selects = tables.map((t) => sql`(SELECT count(*) FROM ${sql.id(t)})::int AS ${sql.id(t)}`);
  const r = await sql<Record<string, number>>`SELECT ${sql.join(selects)}`.execute(ctx.deps.db);
  return r.rows[0]!;
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

async function request(method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const res = await app.request(path, { method, headers: init.headers, body: init.body });
  const contentType = res.headers.get('content-type') ?? '';
  if (contentType.startsWith('text/event-stream')) {
    await res.body?.cancel();
    return { status: res.status, contentType, text: '' };
  }
  return { status: res.status, contentType, text: await res.text() };
}

/** The invariants every answer keeps. */
function checkAnswer(a: Answer, what: string): void {
  expect(a.status, `${what}: ${a.text.slice(0, 300)}`).toBeLessThan(500);
  for (const leak of LEAKS) expect(a.text, `${what}: leaks ${leak}`).not.toMatch(leak);
  if (a.status >= 400) {
    expect(a.contentType, what).toContain('application/json');
    const body = JSON.parse(a.text) as { error: { code: string; message: string; details?: unknown } };
    expect(Object.keys(body), what).toEqual(['error']);
    expect(Object.keys(body.error).filter((k) => !['code', 'message', 'details'].includes(k)), what).toEqual([]);
    expect(body.error.code, what).toBe(CODE_OF[a.status]);
    expect(typeof body.error.message, what).toBe('string');
  }
}

/** Sends, checks the answer, and checks that a refusal left every table as it was. */
async function probe(method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const before = await rowCounts();
  const a = await request(method, path, init);
  const what = `${method} ${path.slice(0, 200)}`;
  checkAnswer(a, what);
  if (a.status >= 400) expect(await rowCounts(), `${what} was refused (${a.status}) but changed rows`).toEqual(before);
  return a;
}

// ---- generators -------------------------------------------------------------------------------

const NASTY = [
  '', ' ', '../../../../etc/passwd', '..\\..\\windows\\win.ini', '%2e%2e%2f%2e%2e%2f', '..%2F..%2F', '....//', '/admin/queues',
  "' OR '1'='1", "'; DROP TABLE users; --", 'Robert"); DROP TABLE user_projects;--', '1; SELECT pg_sleep(10)', "' UNION SELECT * FROM users --",
  '\u202Eevil\u202C', 'مرحبا بالعالم', '\u200B\u200C\u200D\u2060', '\uFEFF', '\uD800', '\uDFFF', 'a\uD83Db', '👩‍👩‍👧‍👦', '🏳️‍🌈'.repeat(50),
  'Z̷̡̛a̶l̸g̵o̴', 'ǅ', '\u0000', 'a\u0000b', '\r\n\r\nHTTP/1.1 200 OK', '${jndi:ldap://x/a}', '<script>alert(1)</script>', '{{7*7}}', '__proto__',
  'constructor', 'null', 'undefined', 'NaN', '-1', '1e309', '00000000-0000-0000-0000-000000000000', 'x'.repeat(300),
];

const nastyString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31) },
  { weight: 1, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** Characters and sequences that break naive code, embedded in otherwise plausible text. */
const FRAGMENTS = [
  '\u0000', '\uD800', '\uDFFF', '\u202E', '\u200B', '\uFEFF', '\u2028', '\u0085', '👩‍👩‍👧‍👦', 'Z̷̡̛', 'ǅ', "'", '"', '\\', '%', '../',
  "'; DROP TABLE users; --", '\r\n', '${x}', '<b>',
];
const plausibleText = fc
  .tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 3 }), fc.string({ maxLength: 8 }))
  .map(([a, f, b]) => `${a}${f.join('x')}${b}`);
/** Mostly text a route would accept but for one odd character; sometimes anything at all. */
const field = fc.oneof({ weight: 4, arbitrary: plausibleText }, { weight: 1, arbitrary: nastyValue });

/** For each route that takes a body, bodies of its own shape. */
const BODY_OF: Array<[RegExp, fc.Arbitrary<unknown>]> = [
  [/^POST \/v1\/projects$/, fc.record({ name: field, settings: fc.record({ approval_threshold_usd: nastyValue, max_parallel_tasks: nastyValue }, { requiredKeys: [] }) }, { requiredKeys: ['name'] })],
  [/^PATCH \/v1\/projects\/:projectId$/, fc.record({ name: field }, { requiredKeys: [] })],
  [/^POST .*\/agents$/, fc.record({ name: field, config: fc.record({ role: field, system_prompt: field, model: fc.constant('gpt-4o-mini'), capabilities: fc.array(field, { maxLength: 2 }) }, { requiredKeys: ['role', 'system_prompt', 'model'] }) })],
  [/^PATCH .*\/agents\/:agentId$/, fc.record({ name: field, config: fc.record({ role: field, system_prompt: field }, { requiredKeys: [] }) }, { requiredKeys: [] })],
  [/^POST .*\/sessions$/, fc.record({ topic: field }, { requiredKeys: [] })],
  [/^POST .*\/chat$/, fc.record({ message: field, session_id: fc.oneof(fc.constant('SESSION'), nastyValue) }, { requiredKeys: ['message'] })],
  [/^POST .*\/reject$/, fc.record({ reason: field }, { requiredKeys: [] })],
];

/** Bodies shaped like the routes' own, with any value in any field, plus random JSON. */
const shapedBody = fc.oneof(
  fc.record({ name: nastyValue }, { requiredKeys: [] }),
  fc.record({ name: nastyValue, settings: fc.oneof(nastyValue, fc.record({ approval_threshold_usd: nastyValue, approval_timeout_s: nastyValue, max_parallel_tasks: nastyValue }, { requiredKeys: [] })) }, { requiredKeys: [] }),
  fc.record({ message: nastyValue, session_id: fc.oneof(nastyValue, fc.constant('SESSION')) }, { requiredKeys: [] }),
  fc.record({ topic: nastyValue }, { requiredKeys: [] }),
  fc.record({ reason: nastyValue }, { requiredKeys: [] }),
  fc.record({ status: fc.oneof(nastyValue, fc.constantFrom('active', 'disabled')) }, { requiredKeys: [] }),
  fc.record(
    {
      name: nastyValue,
      config: fc.oneof(
        nastyValue,
        fc.record(
          {
            role: nastyValue, system_prompt: nastyValue, provider: fc.oneof(nastyValue, fc.constantFrom('simulated', 'openai')),
            model: fc.oneof(nastyValue, fc.constant('gpt-4o-mini')), temperature: nastyValue, max_output_tokens: nastyValue,
            tools: fc.oneof(nastyValue, fc.array(nastyValue, { maxLength: 3 })), capabilities: fc.oneof(nastyValue, fc.array(nastyValue, { maxLength: 3 })),
          },
          { requiredKeys: [] },
        ),
      ),
    },
    { requiredKeys: [] },
  ),
  fc.dictionary(nastyString, nastyValue, { maxKeys: 4 }),
  fc.jsonValue({ maxDepth: 4 }),
);

const rawBody = fc.oneof(
  { weight: 6, arbitrary: shapedBody.map((b) => JSON.stringify(b).replaceAll('"SESSION"', () => JSON.stringify(ids.session))) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '{"name":', '{"name":"x",}', "{'name':'x'}", 'null', '[]', '""', 'NaN', '\u0000', '{"name":"x"}garbage', '\uFEFF{"name":"x"}') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
);

const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'multipart/form-data; boundary=x', 'application/xml',
      'application/json; charset=utf-16', 'application/json; charset=latin1', 'APPLICATION/JSON', 'application/jsonx', 'application/vnd.api+json',
      '*/*', '', ';;;', 'application/json, text/plain',
    ),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[\x21-\x7e]{0,30}$/) },
);

/** Header values must be ISO-8859-1 and without CR/LF for `Headers` to accept them. */
const headerValue = fc.oneof(fc.stringMatching(/^[\x20-\x7e]{0,80}$/), fc.constantFrom('', ' ', '\t', '0', '-1', '99999999999999999999', 'Bearer', 'Bearer ', 'null'));
const headerName = fc.oneof(
  fc.constantFrom('x-request-id', 'last-event-id', 'accept', 'accept-encoding', 'accept-language', 'cookie', 'origin', 'x-forwarded-for', 'range', 'if-none-match', 'x-http-method-override', 'transfer-encoding-x'),
  fc.stringMatching(/^x-[a-z0-9-]{1,20}$/),
);
const extraHeaders = fc.dictionary(headerName, headerValue, { maxKeys: 4 });

const authHeader = fc.oneof(
  { weight: 12, arbitrary: fc.constant('VALID') },
  { weight: 1, arbitrary: fc.constantFrom(undefined, '', 'Bearer', 'Bearer ', 'Basic YTpi', 'Bearer a.b.c', 'bearer VALID', 'Bearer VALID extra', 'Token VALID') },
  { weight: 1, arbitrary: headerValue },
);

function percentEncode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    // A lone surrogate: the bytes of its (invalid) UTF-8 encoding, which a decoder must reject.
    return [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');
  }
}

/** A value for one path parameter: the real one (not for DELETE), another tenant's, a random UUID, or garbage. */
const paramValue = (name: string, method: string): fc.Arbitrary<string> => {
  const real = method === 'DELETE' ? [] : [{ weight: 5, arbitrary: fc.constant(ids[name] ?? 'planner') }];
  return fc.oneof(
    ...real,
    { weight: 1, arbitrary: fc.constant(foreign[name] ?? 'planner') },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: nastyString.filter((s) => s.length > 0).map(percentEncode) },
    { weight: 1, arbitrary: fc.constantFrom('..', '.', '%2e%2e', '..%2f..%2f', '%252e%252e%252f', '%00', '%ff', '%', '%%', 'a%2Fb') },
  );
};

const queryString = fc
  .array(
    fc.tuple(
      fc.oneof(fc.constantFrom('limit', 'cursor', 'status', 'session_id', 'from', 'to', 'last_event_id', 'access_token'), nastyString.map(percentEncode)),
      fc.oneof(
        nastyString.map(percentEncode),
        fc.constantFrom('0', '-1', '101', '1e3', '2024-02-30', '2024-01-01', '9999-12-31', 'planning', '%ff', '%', 'true', '[]'),
      ),
    ),
    { maxLength: 3 },
  )
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));

/** One request against one of the app's routes, parameters, query, headers and body all generated. */
const anyRequest = fc
  .integer({ min: 0, max: 10_000 })
  .chain((i) => {
    const all = routes();
    const route = all[i % all.length]!;
    const names = [...route.path.matchAll(/:(\w+)(\{[^}]*\})?/g)].map((m) => m[1]!);
    return fc.record({
      method: fc.constant(route.method),
      template: fc.constant(route.path),
      params: fc.tuple(...names.map((n) => paramValue(n, route.method))).map((values) => Object.fromEntries(names.map((n, k) => [n, values[k]!]))),
      query: queryString,
      auth: authHeader,
      headers: extraHeaders,
      contentType,
      body: route.method === 'GET' || route.method === 'HEAD' ? fc.constant(undefined) : fc.option(rawBody, { nil: undefined, freq: 6 }),
    });
  })
  .map((r) => {
    let path = r.template.replace(/:(\w+)(\{[^}]*\})?/g, (_, n: string) => r.params[n]!);
    path = path.replace(/\*$/, 'x.js');
    const headers: Record<string, string> = { ...r.headers };
    if (r.auth !== undefined) headers.authorization = r.auth.replace('VALID', token);
    if (r.body !== undefined) headers['content-type'] = r.contentType;
    return { method: r.method, path: `${path}${r.query}`, headers, body: r.body };
  });

// ---- setup --------------------------------------------------------------------------------------

beforeAll(async () => {
  ctx = await createTestContext('fuzz-api');
  app = createApp(ctx.deps);
  const seedOwner = async (sub: string, into: Record<string, string>) => {
    const userId = await seedUser(ctx.deps.db, sub);
    const p = await seedProject(ctx.deps.db, userId);
    const planId = await seedPlan(ctx.deps.db, { userId, ...p }, [{ id: 'a' }, { id: 'b', deps: ['a'] }], { requiresApproval: true });
    await ctx.deps.db.updateTable('task_plans').set({ status: 'pending_approval' }).where('id', '=', planId).execute();
    const plan = await ctx.deps.db.selectFrom('task_plans').select('session_id').where('id', '=', planId).executeTakeFirstOrThrow();
    Object.assign(into, { projectId: p.projectId, agentId: p.agents.get('researcher')!, sessionId: plan.session_id, session: plan.session_id, planId });
  };
  await seedOwner('fuzz-alice', ids);
  await seedOwner('fuzz-bob', foreign);
  token = await signToken({ sub: 'fuzz-alice' });
  adminToken = await signToken({ sub: 'fuzz-operator', role: 'admin' });
  const t = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = ${ctx.config.DATABASE_SCHEMA} AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'kysely_%'
    ORDER BY table_name`.execute(ctx.deps.db);
  tables = t.rows.map((r) => r.table_name);
});
afterAll(async () => {
  await app?.close();
  await ctx?.cleanup();
});

// ---- properties ---------------------------------------------------------------------------------

describe('fuzzing every route', () => {
  it('knows the tables it guards and the routes it fuzzes', () => {
    expect(tables).toEqual(expect.arrayContaining(['users', 'user_projects', 'user_agents', 'chat_sessions', 'task_plans', 'llm_calls', 'errors']));
    expect(routes().filter((r) => r.path.startsWith('/v1/')).length).toBeGreaterThanOrEqual(20);
  });

  it('answers any generated request without a 5xx or a leak, with the contract error shape, changing nothing when it refuses', async () => {
    await fc.assert(
      fc.asyncProperty(anyRequest, async (r) => {
        await probe(r.method, r.path, { headers: r.headers, body: r.body });
      }),
      { numRuns: 500 },
    );
  });

  it('answers bodies shaped like each route’s own, with odd characters and wrong types, on Alice’s own resources the same way', async () => {
    const bodyRoutes = routes().filter((r) => ['POST', 'PATCH', 'PUT'].includes(r.method) && r.path.startsWith('/v1/'));
    expect(bodyRoutes.length).toBeGreaterThanOrEqual(8);
    const withShape = bodyRoutes.map((r) => {
      const shape = BODY_OF.find(([re]) => re.test(`${r.method} ${r.path}`))?.[1];
      const body = shape ? fc.oneof({ weight: 3, arbitrary: shape.map((b) => JSON.stringify(b).replaceAll('"SESSION"', () => JSON.stringify(ids.session))) }, { weight: 1, arbitrary: rawBody }) : rawBody;
      return fc.record({ route: fc.constant(r), body });
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof(...withShape), async ({ route, body }) => {
        const path = route.path.replace(/:(\w+)/g, (_, n: string) => ids[n]!);
        await probe(route.method, path, { headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
      }),
      { numRuns: 300 },
    );
  });
});

describe('hostile inputs, one by one', () => {
  const bodyRoutes = () =>
    routes()
      .filter((r) => ['POST', 'PATCH', 'PUT', 'DELETE'].includes(r.method) && r.path.startsWith('/v1/'))
      .map((r) => ({ method: r.method, path: r.path.replace(/:(\w+)/g, (_, n: string) => ids[n]!) }))
      // Deleting Alice's project would end the fixture; its body is ignored anyway.
      .filter((r) => r.method !== 'DELETE');
  const auth = () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

  /** The routes whose OpenAPI operation declares a JSON body. */
  const declaredBodyRoutes = () => {
    const doc = app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 't', version: '0' } });
    return bodyRoutes().filter((r) => {
      const template = Object.keys(doc.paths ?? {}).find(
        (k) => k.replace(/\{(\w+)\}/g, (_, n: string) => ids[n]!) === r.path,
      );
      const op = template ? (doc.paths![template] as Record<string, { requestBody?: unknown }>)[r.method.toLowerCase()] : undefined;
      return op?.requestBody !== undefined;
    });
  };

  it('answers 400 to JSON nested 10,000 levels deep, as arrays or as objects, on every route that takes a body', async () => {
    const arrays = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const objects = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const inField = (field: string) => `{"${field}":${arrays}}`;
    const routesWithBody = declaredBodyRoutes();
    expect(routesWithBody.length).toBeGreaterThanOrEqual(7);
    for (const r of routesWithBody) {
      for (const body of [arrays, objects, inField('name'), inField('message'), inField('config'), inField('settings')]) {
        const a = await probe(r.method, r.path, { headers: auth(), body });
        expect(a.status, `${r.method} ${r.path}`).toBe(400);
      }
    }
  });

  it('answers 413 to a body over 64 KiB and 400 to a message over 16,000 characters', async () => {
    for (const r of bodyRoutes()) {
      const a = await probe(r.method, r.path, { headers: auth(), body: JSON.stringify({ name: 'x'.repeat(70_000) }) });
      expect(a.status, `${r.method} ${r.path}`).toBe(413);
    }
    const chat = `/v1/projects/${ids.projectId}/chat`;
    expect((await probe('POST', chat, { headers: auth(), body: JSON.stringify({ message: 'x'.repeat(16_001) }) })).status).toBe(400);
    // Characters are code points, not UTF-16 units: 16,000 emoji are a valid message, one more is not.
    expect((await probe('POST', chat, { headers: auth(), body: JSON.stringify({ message: '😀'.repeat(16_001) }) })).status).toBe(400);
    expect((await probe('POST', chat, { headers: auth(), body: JSON.stringify({ message: '😀'.repeat(16_000) }) })).status).toBe(202);
  });

  it('answers 400 to a NUL character in any stored text, or an unpaired surrogate in stored JSON (each was a 500)', async () => {
    const p = `/v1/projects/${ids.projectId}`;
    // A plan still waiting for a decision (the properties above may have decided the fixture's).
    const owner = await ctx.deps.db.selectFrom('task_plans').select(['user_id', 'project_id']).where('id', '=', ids.planId!).executeTakeFirstOrThrow();
    const pending = await seedPlan(ctx.deps.db, { userId: owner.user_id, projectId: owner.project_id, agents: new Map() }, [], { requiresApproval: true });
    await ctx.deps.db.updateTable('task_plans').set({ status: 'pending_approval' }).where('id', '=', pending).execute();
    const cases: Array<[string, string, unknown]> = [
      ['POST', '/v1/projects', { name: 'a\u0000b' }],
      ['PATCH', p, { name: 'a\u0000b' }],
      ['POST', `${p}/sessions`, { topic: 'a\u0000b' }],
      ['POST', `${p}/chat`, { message: 'hello\u0000' }],
      ['POST', `${p}/agents`, { name: 'nul', config: { role: 'r', system_prompt: 'a\u0000b', model: 'gpt-4o-mini' } }],
      ['PATCH', `${p}/agents/${ids.agentId}`, { config: { system_prompt: '\u0000' } }],
      ['POST', `${p}/plans/${pending}/reject`, { reason: 'no\u0000' }],
      // An unpaired surrogate is escaped by JSON.stringify and refused by jsonb (agents' config).
      ['POST', `${p}/agents`, { name: 'lone', config: { role: 'r \uDFFF', system_prompt: 'p', model: 'gpt-4o-mini' } }],
      ['PATCH', `${p}/agents/${ids.agentId}`, { config: { role: '\uD800x' } }],
    ];
    for (const [method, path, body] of cases) {
      const a = await probe(method, path, { headers: auth(), body: JSON.stringify(body) });
      expect(a.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
    }
  });

  it('stores unicode edge cases as given: RTL override, zero-width, emoji sequences, combining marks', async () => {
    for (const name of ['\u202Eevil\u202C', '\u200B\u200D\u2060', '👩‍👩‍👧‍👦 team', 'Z̷̡̛a̶l̸g̵o̴', 'مرحبا']) {
      const a = await probe('POST', '/v1/projects', { headers: auth(), body: JSON.stringify({ name }) });
      expect(a.status).toBe(201);
      expect(JSON.parse(a.text).name).toBe(name.trim());
    }
  });

  it('treats SQL-looking text as text', async () => {
    const before = await rowCounts();
    const name = "x'); DROP TABLE users; --";
    const a = await probe('POST', `/v1/projects/${ids.projectId}/sessions`, { headers: auth(), body: JSON.stringify({ topic: name }) });
    expect(a.status).toBe(201);
    expect(JSON.parse(a.text).topic).toBe(name);
    const listed = await probe('GET', `/v1/projects/${ids.projectId}/plans?status=${encodeURIComponent("planning' OR '1'='1")}`, { headers: auth() });
    expect(listed.status).toBe(400);
    const after = await rowCounts();
    expect(after.users).toBe(before.users);
    expect(after.chat_sessions).toBe(before.chat_sessions! + 1);
  });

  it('never serves a file outside its directories, whatever the traversal', async () => {
    const admin = { authorization: `Bearer ${adminToken}` };
    const traversals = [
      '../../../package.json', '..%2f..%2f..%2fpackage.json', '%2e%2e/%2e%2e/%2e%2e/package.json', '%2e%2e%2f%2e%2e%2fpackage.json',
      '..%252f..%252fpackage.json', '....//....//package.json', '..\\..\\package.json', '%c0%ae%c0%ae/package.json', 'package.json%00.js',
    ];
    for (const t of traversals) {
      for (const [path, headers] of [
        [`/admin/queues/static/${t}`, admin],
        [`/assets/${t}`, {}],
        [`/${t}`, {}],
        [`/v1/projects/${ids.projectId}/agents/${t}`, auth()],
      ] as const) {
        const a = await probe('GET', path, { headers });
        expect(a.status, path).not.toBe(200);
        expect(a.text, path).not.toContain('"name": "codelab-core"');
      }
    }
  });

  it('answers 404 for another tenant’s ids and random UUIDs in any position', async () => {
    const p = `/v1/projects/${ids.projectId}`;
    for (const path of [
      `/v1/projects/${foreign.projectId}`, `${p}/agents/${foreign.agentId}`, `${p}/plans/${foreign.planId}`,
      `${p}/sessions/${foreign.sessionId}/messages`, `${p}/plans/${foreign.planId}/events`, `${p}/sessions/${foreign.sessionId}/events`,
      `/v1/projects/${crypto.randomUUID()}/plans`, `${p}/plans/${crypto.randomUUID()}`,
    ]) {
      const a = await probe('GET', path, { headers: auth() });
      expect(a.status, path).toBe(404);
    }
  });
});
