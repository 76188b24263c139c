import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cosine } from '../src/core/embedding.js';
import { AppError } from '../src/core/errors.js';
import { createHashedEmbedder } from '../src/vector/hashed-embedder.js';
import { createOpenAIEmbedder } from '../src/vector/openai-embedder.js';
import { sketchBits } from '../src/vector/sketch.js';
import { createTestContext, type TestContext } from './helpers/context.js';

describe('hashed embedder', () => {
  const e = createHashedEmbedder();

  it('is labelled local-hashed with 512 dimensions by default', () => {
    expect(e).toMatchObject({ provider: 'local-hashed', dimensions: 512, model: 'hashed-v1-512' });
  });

  it('returns the same vector for the same text, across instances', async () => {
    const text = 'Review the pull request that adds retry logic to the payment client.';
    const [a] = (await e.embed([text])).vectors;
    const [b] = (await createHashedEmbedder().embed([text])).vectors;
    expect(a).toEqual(b);
  });

  it('returns unit-length vectors of the configured size for any text', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 200 }).filter((s) => /[a-z0-9]/i.test(s)), async (s) => {
        const [v] = (await e.embed([s])).vectors;
        expect(v).toHaveLength(512);
        const norm = Math.hypot(...v!);
        // Text made only of stop words has no features: the zero vector.
        expect(norm === 0 || Math.abs(norm - 1) < 1e-9).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('scores a paraphrase far above an unrelated request', async () => {
    const [a, p, u] = (await e.embed([
      'Translate the onboarding guide into Spanish and German and check both translations for consistency.',
      'Produce Spanish and German translations of the onboarding guide and check that the two are consistent.',
      'Analyse our monthly cloud bill, find the five most expensive services, and suggest savings for each.',
    ])).vectors;
    expect(cosine(a!, p!)).toBeGreaterThan(0.6);
    expect(cosine(a!, u!)).toBeLessThan(0.3);
  });

  it('ignores case, punctuation and stop words', async () => {
    const [a, b] = (await e.embed(['Write the tests, for the checkout!', 'write tests checkout'])).vectors;
    expect(cosine(a!, b!)).toBeCloseTo(1, 9);
  });
});

describe('sign sketch', () => {
  it('estimates the angle between vectors from the Hamming distance', async () => {
    const e = createHashedEmbedder();
    const [a, b, c] = (await e.embed(['deploy the api gateway', 'deploy the api gateway today', 'bake a chocolate cake'])).vectors;
    const hamming = (x: string, y: string) => [...x].filter((ch, i) => ch !== y[i]).length;
    const sa = sketchBits(a!);
    expect(sa).toMatch(/^[01]{256}$/);
    expect(hamming(sa, sketchBits(b!))).toBeLessThan(hamming(sa, sketchBits(c!)));
    expect(sketchBits(a!)).toBe(sa);
  });
});

describe('OpenAI embedder', () => {
  let ctx: TestContext;
  let server: Server;
  let baseURL: string;
  const seen: Array<{ auth?: string; body: { model: string; input: string[]; encoding_format?: string; dimensions?: number } }> = [];
  let failNext = false;

  beforeAll(async () => {
    ctx = await createTestContext('vector-embedders');
    // The /v1/embeddings wire format: base64 little-endian float32 when asked (the SDK's default), else JSON numbers.
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        seen.push({ auth: req.headers.authorization, body });
        res.setHeader('content-type', 'application/json');
        if (req.url !== '/v1/embeddings' || req.method !== 'POST') {
          res.statusCode = 404;
          return res.end(JSON.stringify({ error: { message: 'not found' } }));
        }
        if (failNext) {
          failNext = false;
          res.statusCode = 400;
          return res.end(JSON.stringify({ error: { message: 'bad input', type: 'invalid_request_error' } }));
        }
        const dims = body.dimensions ?? 1536;
        const data = (body.input as string[]).map((text, index) => {
          const v = Array.from({ length: dims }, (_, i) => (i === text.length % dims ? 3 : i === 0 ? 4 : 0));
          const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v;
          return { object: 'embedding', index, embedding };
        });
        const tokens = (body.input as string[]).reduce((s, t) => s + t.split(/\s+/).length, 0);
        res.end(JSON.stringify({ object: 'list', model: body.model, data: data.reverse(), usage: { prompt_tokens: tokens, total_tokens: tokens } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await ctx?.cleanup();
  });

  it('embeds in input order, normalised, and records tokens and cost in llm_calls', async () => {
    const e = createOpenAIEmbedder({ apiKey: 'sk-test', baseURL, db: ctx.deps.db, dimensions: 8, maxRetries: 0 });
    expect(e).toMatchObject({ provider: 'openai', model: 'text-embedding-3-small', dimensions: 8 });
    const res = await e.embed(['one two three', 'four five']);
    expect(seen.at(-1)).toMatchObject({ auth: 'Bearer sk-test', body: { model: 'text-embedding-3-small', input: ['one two three', 'four five'], dimensions: 8 } });
    expect(res.tokens).toBe(5);
    // 'one two three' has 13 characters: component 13 % 8 = 5 is 3, component 0 is 4; normalised by 5.
    expect(res.vectors[0]![0]).toBeCloseTo(0.8, 6);
    expect(res.vectors[0]![5]).toBeCloseTo(0.6, 6);
    expect(res.vectors[1]![1]).toBeCloseTo(0.6, 6); // 'four five': 9 % 8 = 1
    const calls = await ctx.deps.db.selectFrom('llm_calls').selectAll().where('purpose', '=', 'embedding').where('outcome', '=', 'ok').execute();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ provider: 'openai', model: 'text-embedding-3-small', input_tokens: 5, output_tokens: 0 });
    expect(calls[0]!.cost).toBeCloseTo((5 * 0.02) / 1_000_000, 15);
  });

  it('records a failed call and throws a third-party AppError', async () => {
    const e = createOpenAIEmbedder({ apiKey: 'sk-test', baseURL, db: ctx.deps.db, dimensions: 8, maxRetries: 0 });
    failNext = true;
    const err = await e.embed(['x']).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'EMBEDDING_FAILED', category: 'third_party' });
    const failed = await ctx.deps.db.selectFrom('llm_calls').selectAll().where('purpose', '=', 'embedding').where('outcome', '=', 'error').execute();
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error).toMatch(/bad input/);
  });

  it('refuses a model without a price', () => {
    expect(() => createOpenAIEmbedder({ baseURL, db: ctx.deps.db, model: 'text-embedding-unknown', dimensions: 8 })).toThrow(/no price/);
  });
});
