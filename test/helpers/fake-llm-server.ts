import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for OpenAI's chat-completions API (`POST /v1/chat/completions`)
 * and Anthropic's messages API (`POST /v1/messages`), plain JSON and SSE
 * streaming, so the real SDKs can be tested end to end. It records every
 * request and can be scripted to fail (status + headers) or to be slow.
 */
export interface FakeReply {
  /** Assistant text; with a forced Anthropic tool it is that tool's JSON input. */
  text?: string;
  toolCalls?: Array<{ id: string; name: string; arguments: Record<string, unknown> }>;
  usage?: { input: number; output: number };
}

export type FakeStep =
  | { status: number; headers?: Record<string, string>; body?: unknown }
  | { delayMs: number; reply?: FakeReply }
  | { reply: FakeReply };

export interface RecordedRequest {
  api: 'openai' | 'anthropic';
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
}

export interface FakeLlmServer {
  url: string;
  /** For the OpenAI SDK's `baseURL` (it appends `/chat/completions`). */
  openaiBaseUrl: string;
  /** For the Anthropic SDK's `baseURL` (it appends `/v1/messages`). */
  anthropicBaseUrl: string;
  requests: RecordedRequest[];
  /** Answer used when no scripted step is queued. */
  reply: FakeReply;
  /** Steps consumed one per request, in order, by either API. */
  enqueue(...steps: FakeStep[]): void;
  /** Forgets queued steps and recorded requests; restores the default reply. */
  reset(): void;
  close(): Promise<void>;
}

const DEFAULT_REPLY: FakeReply = { text: 'Hello from the fake model.', usage: { input: 11, output: 7 } };

export async function startFakeLlmServer(): Promise<FakeLlmServer> {
  const queue: FakeStep[] = [];
  const state: Pick<FakeLlmServer, 'requests' | 'reply'> = { requests: [], reply: { ...DEFAULT_REPLY } };

  const server = createServer((req, res) => {
    void handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(599);
      res.end(String(err));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = (req.url ?? '').split('?')[0]!;
    const api = path.endsWith('/chat/completions') ? 'openai' : path.endsWith('/messages') ? 'anthropic' : undefined;
    if (!api || req.method !== 'POST') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    state.requests.push({ api, path, headers: req.headers, body });

    const step = queue.shift();
    let reply = state.reply;
    if (step && 'status' in step) {
      res.writeHead(step.status, { 'content-type': 'application/json', ...step.headers });
      res.end(JSON.stringify(step.body ?? errorBody(api, step.status)));
      return;
    }
    if (step && 'delayMs' in step) {
      const ok = await waitUnlessClosed(step.delayMs, res);
      if (!ok) return;
      reply = step.reply ?? reply;
    } else if (step) {
      reply = step.reply;
    }
    if (api === 'openai') openAiReply(body, reply, res);
    else anthropicReply(body, reply, res);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    openaiBaseUrl: `${url}/v1`,
    anthropicBaseUrl: url,
    get requests() {
      return state.requests;
    },
    get reply() {
      return state.reply;
    },
    set reply(r: FakeReply) {
      state.reply = r;
    },
    enqueue: (...steps) => void queue.push(...steps),
    reset() {
      queue.length = 0;
      state.requests = [];
      state.reply = { ...DEFAULT_REPLY };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function errorBody(api: 'openai' | 'anthropic', status: number): unknown {
  const message = `scripted ${status}`;
  return api === 'openai'
    ? { error: { message, type: 'server_error', code: null } }
    : { type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message } };
}

/** Resolves false if the client went away first (an abort or a timeout). */
function waitUnlessClosed(ms: number, res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    res.on('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

function pieces(text: string, size = 6): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

function sse(res: ServerResponse): (data: unknown, event?: string) => void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  return (data, event) => {
    res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  };
}

function openAiReply(body: any, reply: FakeReply, res: ServerResponse): void {
  const usage = reply.usage ?? DEFAULT_REPLY.usage!;
  const calls = reply.toolCalls ?? [];
  const finish = calls.length > 0 ? 'tool_calls' : 'stop';
  const base = { id: 'chatcmpl-fake', created: 1_700_000_000, model: body.model };
  const usageJson = { prompt_tokens: usage.input, completion_tokens: usage.output, total_tokens: usage.input + usage.output };
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        ...base,
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            logprobs: null,
            finish_reason: finish,
            message: {
              role: 'assistant',
              content: reply.text ?? null,
              refusal: null,
              ...(calls.length
                ? { tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments) } })) }
                : {}),
            },
          },
        ],
        usage: usageJson,
      }),
    );
    return;
  }
  const send = sse(res);
  const chunk = (delta: unknown, finish_reason: string | null = null) =>
    send({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason, logprobs: null }] });
  chunk({ role: 'assistant', content: '' });
  for (const p of pieces(reply.text ?? '')) chunk({ content: p });
  calls.forEach((c, index) => {
    const args = JSON.stringify(c.arguments);
    const half = Math.ceil(args.length / 2);
    chunk({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] });
    chunk({ tool_calls: [{ index, function: { arguments: args.slice(0, half) } }] });
    chunk({ tool_calls: [{ index, function: { arguments: args.slice(half) } }] });
  });
  chunk({}, finish);
  if (body.stream_options?.include_usage) send({ ...base, object: 'chat.completion.chunk', choices: [], usage: usageJson });
  send('[DONE]');
  res.end();
}

function anthropicReply(body: any, reply: FakeReply, res: ServerResponse): void {
  const usage = reply.usage ?? DEFAULT_REPLY.usage!;
  const forced: string | undefined = body.tool_choice?.type === 'tool' ? body.tool_choice.name : undefined;
  const blocks: Array<{ type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: unknown }> = forced
    ? [{ type: 'tool_use', id: 'toolu_answer', name: forced, input: JSON.parse(reply.text ?? '{}') }]
    : [
        ...(reply.text ? [{ type: 'text' as const, text: reply.text }] : []),
        ...(reply.toolCalls ?? []).map((c) => ({ type: 'tool_use' as const, id: c.id, name: c.name, input: c.arguments })),
      ];
  const stop = blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn';
  const message = { id: 'msg_fake', type: 'message', role: 'assistant', model: body.model, stop_sequence: null };
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...message, content: blocks, stop_reason: stop, usage: { input_tokens: usage.input, output_tokens: usage.output } }));
    return;
  }
  const send = sse(res);
  const event = (data: { type: string } & Record<string, unknown>) => send(data, data.type);
  event({ type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { input_tokens: usage.input, output_tokens: 1 } } });
  blocks.forEach((b, index) => {
    if (b.type === 'text') {
      event({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      for (const p of pieces(b.text)) event({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: p } });
    } else {
      event({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
      for (const p of pieces(JSON.stringify(b.input), 9)) {
        event({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: p } });
      }
    }
    event({ type: 'content_block_stop', index });
  });
  event({ type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output } });
  event({ type: 'message_stop' });
  res.end();
}
