/**
 * A plan's event stream over fetch (Node has no EventSource): parses
 * `text/event-stream`, and when the connection drops before the plan ended,
 * reconnects with `Last-Event-ID` set to the last id received, so the server
 * replays exactly what was missed.
 */
import { sseBlocks } from './sse-blocks.js';

export interface StreamEvent {
  /** Absent on ephemeral events (`task.delta`). */
  id?: string;
  type: string;
  data: Record<string, unknown>;
}

export interface EventStreamOptions {
  url: string;
  token: string;
  /** Ends the stream after this event (the plan's terminal event). */
  isLast(e: StreamEvent): boolean;
  /** Consecutive failed connections before giving up. */
  maxRetries?: number;
  signal?: AbortSignal;
}

export class StreamError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'StreamError';
  }
}

function parseBlock(block: string): StreamEvent | null {
  let id: string | undefined;
  let type = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r\n|\r|\n/)) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i === -1 ? line : line.slice(0, i);
    const value = i === -1 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return null;
  try {
    return { ...(id ? { id } : {}), type, data: JSON.parse(data.join('\n')) as Record<string, unknown> };
  } catch {
    return null;
  }
}

export async function* planEvents(opts: EventStreamOptions): AsyncGenerator<StreamEvent> {
  let lastId = '';
  let failures = 0;
  const maxRetries = opts.maxRetries ?? 10;
  for (;;) {
    const headers: Record<string, string> = { authorization: `Bearer ${opts.token}`, accept: 'text/event-stream' };
    if (lastId) headers['last-event-id'] = lastId;
    let res: Response | undefined;
    try {
      res = await fetch(opts.url, { headers, signal: opts.signal });
    } catch (err) {
      if (opts.signal?.aborted) return;
      res = undefined;
      if (++failures > maxRetries) throw new StreamError(0, `event stream unreachable: ${(err as Error).message}`);
    }
    if (res && !res.ok) {
      const text = await res.text().catch(() => '');
      // 429 (too many streams) and 503 (Redis down) pass; anything else will not.
      if ((res.status !== 429 && res.status !== 503) || ++failures > maxRetries) {
        throw new StreamError(res.status, `event stream: ${res.status} ${text.slice(0, 300)}`);
      }
      res = undefined;
    }
    if (res?.body) {
      try {
        for await (const block of sseBlocks(res.body)) {
          const event = parseBlock(block);
          if (!event) continue;
          if (event.id) lastId = event.id;
          failures = 0;
          yield event;
          if (opts.isLast(event)) return; // leaving the loop cancels the body
        }
      } catch {
        if (opts.signal?.aborted) return;
        // dropped mid-stream: reconnect below with Last-Event-ID
      }
      // A stream that ended before the plan did (a restarting server) counts as a failed attempt until an event arrives.
      if (++failures > maxRetries) throw new StreamError(0, 'event stream keeps closing before the plan ends');
    }
    await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** Math.min(failures, 5))));
  }
}
