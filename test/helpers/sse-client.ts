import { sseBlocks } from '../../src/cli/sse-blocks.js';

/** One parsed `text/event-stream` message. */
export interface SseMessage {
  /** Absent when the message had no `id:` line (ephemeral events). */
  id?: string;
  event: string;
  data: string;
  /** `data` parsed as JSON. */
  json: any;
}

export interface SseConnection {
  status: number;
  headers: Headers;
  /** The JSON body of a non-stream answer (errors). */
  body: any;
  /** Every message so far, in order. */
  messages: SseMessage[];
  /** Comment lines so far (`: ping` → "ping"), with how many messages had arrived before each. */
  comments: Array<{ text: string; afterMessages: number }>;
  /** The next message not yet taken by next(); undefined once the stream ended. Rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<SseMessage | undefined>;
  /** Resolves when the server ended the stream (not when we aborted it). */
  ended: Promise<void>;
  /** Whether the server ended the stream. */
  isEnded(): boolean;
  /** Disconnects, like a browser tab going away. */
  close(): void;
}

export interface SseOptions {
  token?: string;
  lastEventId?: string;
  headers?: Record<string, string>;
}

/**
 * A minimal EventSource over fetch: parses `id`, `event`, `data` and comment
 * lines as the HTML spec does (blank line ends a message). Resolves once the
 * response headers arrived.
 */
export async function openSse(url: string, opts: SseOptions = {}): Promise<SseConnection> {
  const headers: Record<string, string> = { accept: 'text/event-stream', ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.lastEventId !== undefined) headers['last-event-id'] = opts.lastEventId;
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  const messages: SseMessage[] = [];
  const comments: SseConnection['comments'] = [];
  let taken = 0;
  let ended = false;
  let wake: (() => void) | undefined;
  let endedResolve!: () => void;
  const endedPromise = new Promise<void>((r) => (endedResolve = r));

  const conn: SseConnection = {
    status: res.status,
    headers: res.headers,
    body: undefined,
    messages,
    comments,
    ended: endedPromise,
    isEnded: () => ended,
    close: () => ac.abort(),
    async next(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (taken >= messages.length && !ended) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no SSE message within ${timeoutMs} ms (got ${messages.length})`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
      }
      return taken < messages.length ? messages[taken++] : undefined;
    },
  };

  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) {
    const text = await res.text();
    try {
      conn.body = JSON.parse(text);
    } catch {
      conn.body = text;
    }
    ended = true;
    endedResolve();
    return conn;
  }

  const dispatch = (block: string) => {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    let any = false;
    for (const line of block.split(/\r\n|\r|\n/)) {
      if (line.startsWith(':')) {
        comments.push({ text: line.slice(1).trim(), afterMessages: messages.length });
        continue;
      }
      const i = line.indexOf(':');
      const field = i === -1 ? line : line.slice(0, i);
      const value = i === -1 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else continue;
      any = true;
    }
    if (!any) return;
    const text = data.join('\n');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    messages.push({ ...(id === undefined ? {} : { id }), event, data: text, json });
  };

  void (async () => {
    try {
      for await (const block of sseBlocks(res.body!)) {
        dispatch(block);
        wake?.();
      }
      ended = true;
      endedResolve();
    } catch {
      // aborted by close(): not an end by the server
    } finally {
      wake?.();
    }
  })();
  return conn;
}

/** Reads messages until the server ends the stream. */
export async function readToEnd(conn: SseConnection, timeoutMs = 30_000): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for (;;) {
    const m = await conn.next(timeoutMs);
    if (!m) return out;
    out.push(m);
  }
}
