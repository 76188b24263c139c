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
