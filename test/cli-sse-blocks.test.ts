import { describe, expect, it } from 'vitest';
import { sseBlocks } from '../src/cli/sse-blocks.js';

function body(chunks: string[], onCancel?: () => void): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < chunks.length) c.enqueue(enc.encode(chunks[i++]!));
      else c.close();
    },
    cancel: () => onCancel?.(),
  });
}

describe('sseBlocks', () => {
  it('splits on blank lines (LF or CRLF) across chunk boundaries and keeps an unterminated tail out', async () => {
    const out: string[] = [];
    for await (const b of sseBlocks(body(['id: 1\ndata: a\n', '\nid: 2\r\n', 'data: b\r\n\r\n: ping\n\n', 'data: cut']))) out.push(b);
    expect(out).toEqual(['id: 1\ndata: a', 'id: 2\r\ndata: b', ': ping']);
  });

  it('cancels the body when the reader leaves early', async () => {
    let cancelled = false;
    for await (const b of sseBlocks(body(['data: 1\n\n', 'data: 2\n\n', 'data: 3\n\n'], () => (cancelled = true)))) {
      expect(b).toBe('data: 1');
      break;
    }
    expect(cancelled).toBe(true);
  });
});
