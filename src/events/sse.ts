const encoder = new TextEncoder();

/** One `text/event-stream` message. */
export interface SseFrame {
  /** Omitted for ephemeral events: the client's Last-Event-ID stays where it was. */
  id?: string;
  event: string;
  /** One line of JSON (JSON.stringify never emits a raw newline). */
  data: string;
}

/**
 * The bytes of one SSE message. Built once per published event and shared
 * by every local stream that sends it unchanged (the fan-out's hot path).
 */
export function encodeFrame(f: SseFrame): Uint8Array {
  const id = f.id === undefined ? '' : `id: ${f.id}\n`;
  return encoder.encode(`${id}event: ${f.event}\ndata: ${f.data}\n\n`);
}

/** A comment line: ignored by EventSource, keeps proxies and the client's idle timers happy. */
export const PING_FRAME = encoder.encode(': ping\n\n');

/** The writing end of an SSE response body (see `sseBody`). */
export interface SseBodySink {
  /** Queues bytes; resolves at once while under the high-water mark, else once the client read enough. */
  write(bytes: Uint8Array): Promise<void>;
  /** Errors the body: the server cuts the connection (a too-slow client). */
  abort(): void;
  /** Ends the body normally once what is queued was sent. */
  close(): void;
}

/**
 * A response body for SSE made of ONE ReadableStream written directly, with
 * byte-based backpressure: under the mark a write costs an `enqueue`, past it
 * the writer waits for the HTTP layer to pull. (hono's `streamSSE` stacks a
 * TransformStream and a second ReadableStream per response; with thousands
 * of streams that doubled the CPU of every delivery.) `onCancel` runs when
 * the client goes away.
 */
export function sseBody(onCancel: () => void, highWaterMark = 64 * 1024): { body: ReadableStream<Uint8Array>; sink: SseBodySink } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let waiting: (() => void) | undefined;
  let done = false;
  const release = () => {
    const w = waiting;
    waiting = undefined;
    w?.();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start: (c) => {
        controller = c;
      },
      pull: release,
      cancel: () => {
        done = true;
        release();
        onCancel();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark }),
  );
  return {
    body,
    sink: {
      write(bytes) {
        if (done) return Promise.resolve();
        controller.enqueue(bytes);
        if ((controller.desiredSize ?? 0) > 0) return Promise.resolve();
        return new Promise<void>((resolve) => {
          waiting = resolve;
        });
      },
      abort() {
        if (done) return;
        done = true;
        controller.error(new Error('sse client too slow'));
        release();
      },
      close() {
        if (done) return;
        done = true;
        controller.close();
        release();
      },
    },
  };
}
