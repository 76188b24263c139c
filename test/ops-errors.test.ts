import { createServer, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { eventually } from './helpers/seed.js';
import { signToken } from './helpers/http.js';
import { createApp } from '../api/app.js';
import { createWorkers, type WorkerSet } from '../workers/index.js';
import { AppError } from '../src/core/errors.js';
import { fingerprintError, normalizeMessage, topFrame } from '../src/ops/fingerprint.js';
import { isUnexpectedError } from '../src/ops/error-tracker.js';

/** A stand-in for Sentry's ingest endpoint: records every envelope posted to it. */
async function fakeSentry() {
  const envelopes: string[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    envelopes.push((req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8'));
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return { envelopes, dsn: `http://publickey@127.0.0.1:${port}/42`, close: () => new Promise((r) => server.close(r)) };
}

let ctx: TestContext;
let app: ReturnType<typeof createApp>;
let sentry: Awaited<ReturnType<typeof fakeSentry>>;

beforeAll(async () => {
  sentry = await fakeSentry();
  ctx = await createTestContext('ops-errors', { SENTRY_DSN: sentry.dsn });
  app = createApp(ctx.deps);
  // Two throw sites: the same bug with other numbers and ids, and a different bug.
  app.get('/test/boom/:n', (c) => {
    throw new Error(`cannot settle item ${c.req.param('n')} of plan ${crypto.randomUUID()} after 3 ms`);
  });
  app.get('/test/other', () => {
    throw new TypeError('something else broke');
  });
  app.get('/test/user-error', () => {
    throw new AppError('CONFLICT', 'conflict', 'wrong state');
  });
});
afterAll(async () => {
  await app?.close();
  await ctx?.cleanup();
  await sentry?.close();
});

const rows = () => ctx.deps.db.selectFrom('errors').selectAll().orderBy('last_seen').execute();

describe('error tracking', () => {
  it('stores an unexpected route error once, then counts repeats with other numbers under the same fingerprint', async () => {
    const first = await app.request('/test/boom/17');
    expect(first.status).toBe(500);
    expect(await first.json()).toEqual({ error: { code: 'internal', message: 'internal server error' } });
    const [row] = await eventually(async () => {
      const r = await rows();
      return r.length === 1 ? r : undefined;
    }, 10_000, 'the error row');
    expect(row).toMatchObject({ source: 'api', name: 'Error', count: '1' });
    expect(row!.sample_message).toMatch(/^cannot settle item 17 of plan /);
    expect(row!.sample_stack).toContain('ops-errors.test.ts');

    expect((await app.request('/test/boom/90210')).status).toBe(500);
    const again = await eventually(async () => {
      const r = await rows();
      return r.length === 1 && r[0]!.count === '2' ? r : undefined;
    }, 10_000, 'count 2');
    expect(again[0]!.fingerprint).toBe(row!.fingerprint);
    expect(again[0]!.sample_message).toMatch(/^cannot settle item 90210 /);
    expect(again[0]!.last_seen.getTime()).toBeGreaterThanOrEqual(row!.first_seen.getTime());

    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toContain(`codelab_unexpected_errors_total{fingerprint="${row!.fingerprint}",source="api"} 2`);
  });

  it('gives a different throw site its own fingerprint, and never tracks expected errors', async () => {
    const before = (await rows()).length;
    expect((await app.request('/test/user-error')).status).toBe(409);
    expect((await app.request('/no/such/route')).status).toBe(404);
    expect((await app.request('/test/other')).status).toBe(500);
    const after = await eventually(async () => {
      const r = await rows();
      return r.length === before + 1 ? r : undefined;
    }, 10_000, 'the second error row');
    expect(after.at(-1)).toMatchObject({ name: 'TypeError', count: '1', source: 'api' });
    expect(new Set(after.map((r) => r.fingerprint)).size).toBe(after.length);
  });

  it('lists errors to an admin at GET /admin/errors, and to nobody else', async () => {
    expect((await app.request('/admin/errors')).status).toBe(401);
    const user = await signToken();
    expect((await app.request('/admin/errors', { headers: { authorization: `Bearer ${user}` } })).status).toBe(401);
    const admin = await signToken({ role: 'admin' });
    const res = await app.request('/admin/errors', { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items: Array<{ fingerprint: string; count: number; sample_message: string; first_seen: string }> };
    const boom = body.items.find((i) => i.sample_message.startsWith('cannot settle item'));
    expect(boom).toMatchObject({ count: 2 });
    expect(Date.parse(boom!.first_seen)).not.toBeNaN();
  });

  it('tracks a failed job whose error is unexpected, with source worker', async () => {
    const workers: WorkerSet = createWorkers(ctx.deps, { queues: ['agents'], reconcile: false, agentInstances: 1 });
    try {
      // A payload the catalog refuses: the processor's parse throws a ZodError, a bug in whoever enqueued it.
      await ctx.deps.queues.byName.agents.add('task', { not: 'a task' }, { attempts: 1 });
      const row = await eventually(async () => (await rows()).find((r) => r.source === 'worker'), 15_000, 'the worker error row');
      expect(row).toMatchObject({ name: 'ZodError', count: '1' });
    } finally {
      await workers.close();
    }
  });

  it('reports to Sentry when SENTRY_DSN is set, with the fingerprint', async () => {
    const fp = await ctx.deps.errors.capture(new Error('reported to sentry 123'), { source: 'worker' });
    await ctx.deps.errors.close();
    const envelope = await eventually(async () => sentry.envelopes.find((e) => e.includes('reported to sentry 123')), 10_000, 'a Sentry envelope');
    expect(envelope).toContain(fp);
  });
});

describe('fingerprints', () => {
  it('strip numbers, uuids and long hex ids from the message', () => {
    expect(normalizeMessage('task 12 of 3f1c1f52-7d5b-4c59-9a57-0a6f0f7b2f11 took 3.5 s (job deadbeefcafe)')).toBe(
      'task <n> of <uuid> took <n> s (job <hex>)',
    );
  });

  it('use the top frame without line and column or the checkout path', () => {
    const stack = `Error: x\n    at settle (${process.cwd()}/src/engine/run-task.ts:120:15)\n    at other (/x.ts:1:1)`;
    expect(topFrame(stack)).toBe('at settle (src/engine/run-task.ts)');
  });

  it('are equal for the same error thrown from the same place with other numbers', () => {
    const make = (n: number) => new Error(`item ${n} failed`);
    expect(fingerprintError(make(1))).toBe(fingerprintError(make(2)));
    expect(fingerprintError(make(1))).not.toBe(fingerprintError(new RangeError('item 1 failed')));
  });

  it('tell user errors and planned retries from unexpected errors', () => {
    expect(isUnexpectedError(new Error('bug'))).toBe(true);
    expect(isUnexpectedError(new AppError('X', 'system', 'bug'))).toBe(true);
    expect(isUnexpectedError(new AppError('X', 'invalid_request', 'user'))).toBe(false);
    expect(isUnexpectedError(new AppError('X', 'third_party', 'provider down'))).toBe(false);
    const unrecoverable = new Error('bad plan');
    unrecoverable.name = 'UnrecoverableError';
    expect(isUnexpectedError(unrecoverable)).toBe(false);
  });

  it('never store a credential carried by an error message', async () => {
    const err = new Error('GET https://api.example.com/v1?access_token=eyJhbGciOi.secret.sig failed with Bearer sk-abcdefghijklmnop');
    await ctx.deps.errors.capture(err, { source: 'api' });
    const all = JSON.stringify(await rows());
    expect(all).not.toContain('eyJhbGciOi.secret.sig');
    expect(all).not.toContain('sk-abcdefghijklmnop');
    expect(all).toContain('access_token=[redacted]');
  });
});
