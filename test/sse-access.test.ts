import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { eventually, seedPlan, seedProject, seedUser } from './helpers/seed.js';
import { logSink, signToken } from './helpers/http.js';
import { openSse, type SseConnection } from './helpers/sse-client.js';
import { createApp, type App } from '../api/app.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import { createLogger } from '../src/logger.js';
import { EventStream } from '../src/events/event-stream.js';
import { createStreamManager } from '../src/events/stream-manager.js';
import { LiveDelta, LiveEvent } from '../src/events/live-message.js';
import { publishEvents, type StoredEvent } from '../src/events/event-log.js';

const CAP = 3;
let ctx: TestContext;
let app: App;
let server: ApiServer;
let base: string;
const sink = logSink();
let alice: { token: string; projectId: string; planId: string; sessionId: string };
let bob: { token: string; projectId: string; planId: string; sessionId: string };
const open: SseConnection[] = [];

async function seedOwner(subject: string) {
  const userId = await seedUser(ctx.deps.db, subject);
  const p = await seedProject(ctx.deps.db, userId);
  const planId = await seedPlan(ctx.deps.db, { userId, ...p }, [{ id: 'a' }]);
  const { session_id } = await ctx.deps.db.selectFrom('task_plans').select('session_id').where('id', '=', planId).executeTakeFirstOrThrow();
  return { token: await signToken({ sub: subject }), projectId: p.projectId, planId, sessionId: session_id };
}

beforeAll(async () => {
  ctx = await createTestContext('sse-access', { SSE_MAX_STREAMS_PER_USER: String(CAP) });
  // every log line of the API, at the most verbose level, lands in `sink`
  const logger = createLogger('trace', { destination: sink });
  const deps = { ...ctx.deps, logger };
  app = createApp(deps);
  server = await startApiServer(deps, app, { port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${server.port}`;
  alice = await seedOwner('sse-alice');
  bob = await seedOwner('sse-bob');
});
afterAll(async () => {
  for (const c of open) c.close();
  await server?.close();
  await ctx?.cleanup();
});

const planUrl = (o: typeof alice, planId = o.planId) => `${base}/v1/projects/${o.projectId}/plans/${planId}/events`;
const sessionUrl = (o: typeof alice, sessionId = o.sessionId) => `${base}/v1/projects/${o.projectId}/sessions/${sessionId}/events`;

describe('SSE access', () => {
  it('answers 401 without a token', async () => {
    const c = await openSse(planUrl(alice));
    expect(c.status).toBe(401);
    expect(c.body.error.code).toBe('unauthorized');
  });

  it("answers 404 for another user's plan and session, even inside the caller's own project", async () => {
    for (const url of [
      planUrl(alice, bob.planId),
      sessionUrl(alice, bob.sessionId),
      planUrl(bob),
      sessionUrl(bob),
      planUrl(alice, randomUUID()),
    ]) {
      const c = await openSse(url, { token: alice.token });
      expect(c.status, url).toBe(404);
      expect(c.body.error.code).toBe('not_found');
    }
  });

  it('accepts ?access_token= and never writes the token to the logs', async () => {
    const c = await openSse(`${planUrl(alice)}?access_token=${encodeURIComponent(alice.token)}`);
    expect(c.status).toBe(200);
    const s = await openSse(`${sessionUrl(alice)}?access_token=${encodeURIComponent(alice.token)}&last_event_id=0`);
    expect(s.status).toBe(200);
    const bad = await openSse(`${planUrl(alice)}?access_token=${encodeURIComponent(`${alice.token}x`)}`);
    expect(bad.status).toBe(401);
    c.close();
    s.close();
    await eventually(async () => app.streams.openStreams() === 0, 10_000, 'streams closed');
    const logs = sink.lines.join('');
    expect(logs).toMatch(/"path":"\/v1\/projects\/[^"]+\/plans\/[^"]+\/events"/); // the requests were logged…
    expect(logs).not.toContain(alice.token); // …without the token
    expect(logs).not.toContain(alice.token.split('.')[2]!);
  });

  it(`answers 429 with Retry-After for the stream past the per-user cap (${CAP}), and frees the slot on disconnect`, async () => {
    for (let i = 0; i < CAP; i++) {
      const c = await openSse(i % 2 ? sessionUrl(alice) : planUrl(alice), { token: alice.token });
      expect(c.status).toBe(200);
      open.push(c);
    }
    const over = await openSse(planUrl(alice), { token: alice.token });
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(over.body.error.code).toBe('rate_limited');
    // the cap is per user: bob is not affected
    const other = await openSse(planUrl(bob), { token: bob.token });
    expect(other.status).toBe(200);
    other.close();

    open.shift()!.close();
    await eventually(async () => {
      const again = await openSse(planUrl(alice), { token: alice.token });
      if (again.status === 200) open.push(again);
      return again.status === 200;
    }, 10_000, 'a freed slot');
  });
});

describe('slow client', () => {
  it('a stream whose client stops reading is closed once its queue passes the bound, deltas having been dropped first', async () => {
    const manager = createStreamManager({
      redisUrl: ctx.config.REDIS_URL,
      logger: ctx.deps.logger,
      heartbeatMs: 60_000,
      maxStreamsPerUser: 10,
      maxQueuedBytes: 4096,
    });
    const planId = randomUUID(); // no stored events: the replay is empty
    const stream = new EventStream({ db: ctx.deps.db, manager, logger: ctx.deps.logger }, { kind: 'plan', planId, terminal: false, afterSeq: 0 });
    let aborted = false;
    const written: number[] = [];
    // a client that takes the first write and then never reads again
    const run = stream.run(
      {
        write: (bytes) => {
          written.push(bytes.length);
          return written.length === 1 ? Promise.resolve() : new Promise<void>(() => undefined);
        },
        abort: () => {
          aborted = true;
        },
      },
      () => undefined,
    );
    const event = (seq: number) =>
      new LiveEvent({ id: String(seq), planId, sessionId: randomUUID(), seq, type: 'task.started', taskId: 'a', at: new Date().toISOString(), data: { pad: 'x'.repeat(900) } }, 1000);
    const delta = () => new LiveDelta(planId, randomUUID(), 'task.delta', 'a', new Date().toISOString(), { text: 'x'.repeat(900) }, 1000);
    await eventually(async () => {
      stream.deliver(event(1));
      return written.length >= 1;
    }, 5_000, 'first write');
    stream.deliver(event(2)); // taken by the pump, stuck in the write
    await eventually(async () => written.length >= 2, 5_000, 'stuck write');
    for (let i = 0; i < 3; i++) stream.deliver(delta());
    expect(stream.reason).toBeUndefined();
    for (let seq = 3; seq < 10 && !stream.reason; seq++) stream.deliver(event(seq));
    expect(stream.reason).toBe('overflow');
    expect(aborted).toBe(true);
    await manager.close();
    expect(written.length).toBe(2);
    void run;
  });

  it('over HTTP: a client that stops reading is cut at the bound while a reading client of the same plan gets every event', async () => {
    for (const c of open.splice(0)) c.close();
    await eventually(async () => app.streams.openStreams() === 0, 10_000, 'earlier streams closed');
    const planId = alice.planId;
    const fast = await openSse(planUrl(alice), { token: alice.token });
    // the slow client: headers read, body never read
    const slow = await fetch(planUrl(alice), { headers: { authorization: `Bearer ${alice.token}` } });
    expect([fast.status, slow.status]).toEqual([200, 200]);
    expect(app.streams.openStreams()).toBe(2);

    const pad = 'x'.repeat(8 * 1024);
    const event = (seq: number): StoredEvent => ({
      id: String(seq), planId, sessionId: alice.sessionId, seq, type: 'task.tool_call', taskId: 'a', at: new Date().toISOString(), data: { pad },
    });
    // 40 rounds of 50 events of 8 KiB (16 MiB): each round waits for the fast client, the slow one falls behind
    let seq = 0;
    for (let round = 0; round < 40; round++) {
      await publishEvents(ctx.deps.redis, ctx.deps.prefix, Array.from({ length: 50 }, () => event(++seq)));
      await eventually(async () => fast.messages.length >= seq, 20_000, `fast client at ${seq}`);
    }
    expect(fast.messages.map((m) => Number(m.id))).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
    await eventually(async () => app.streams.openStreams() === 1, 10_000, 'the slow stream closed');
    // the slow client's connection was cut: its body ends or errors instead of hanging, short of the events
    let got = 0;
    await (async () => {
      for await (const chunk of slow.body as unknown as AsyncIterable<Uint8Array>) got += chunk.length;
    })().catch(() => undefined);
    expect(got).toBeLessThan(seq * pad.length);
    fast.close();
  });
});
