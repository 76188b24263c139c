/**
 * What a stream's pump takes from its inbox, in order. `bytes` is what the
 * message costs while it waits (its JSON size); `droppable` marks messages a
 * client can live without (`task.delta`): they go first when the inbox is full.
 */
export interface InboxItem {
  bytes: number;
  droppable: boolean;
}

/** `overflow`: the bound is exceeded even with every droppable message gone; the stream must close. */
export type PushResult = 'queued' | 'dropped' | 'overflow';

/**
 * A per-stream FIFO bounded in bytes, so a slow client costs the server at
 * most `maxBytes` of queued events plus the socket's own buffer. When a push
 * would pass the bound, droppable messages are discarded (the new one first,
 * then the oldest queued); if the durable messages alone still pass it, the
 * push reports `overflow` and the caller closes the stream: durable events
 * are never dropped silently, the client resumes with `Last-Event-ID`.
 * Single consumer: `next()` waits for the next item or the close.
 */
export class BoundedInbox<T extends InboxItem> {
  private items: T[] = [];
  private head = 0;
  private size = 0;
  private closed = false;
  private wake: (() => void) | undefined;
  /** Droppable messages discarded so far (for logs and metrics). */
  dropped = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes currently queued. */
  get bytes(): number {
    return this.size;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): PushResult {
    if (this.closed) return 'dropped';
    // The bound is on the backlog: one message alone is always taken, however big.
    if (this.length > 0 && this.size + item.bytes > this.maxBytes) {
      if (item.droppable) {
        this.dropped++;
        return 'dropped';
      }
      this.dropDroppable(this.size + item.bytes - this.maxBytes);
      if (this.size + item.bytes > this.maxBytes) return 'overflow';
    }
    this.items.push(item);
    this.size += item.bytes;
    this.wake?.();
    return 'queued';
  }

  /** The next item, or undefined once closed (queued items are discarded on close). */
  async next(): Promise<T | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      if (this.head < this.items.length) {
        const item = this.items[this.head]!;
        this.items[this.head++] = undefined as unknown as T;
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        this.size -= item.bytes;
        return item;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  close(): void {
    this.closed = true;
    this.items = [];
    this.head = 0;
    this.size = 0;
    this.wake?.();
  }

  /** Removes the oldest droppable items until `need` bytes are freed or none is left. */
  private dropDroppable(need: number): void {
    let freed = 0;
    const kept: T[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const it = this.items[i]!;
      if (freed < need && it.droppable) {
        freed += it.bytes;
        this.dropped++;
      } else kept.push(it);
    }
    this.items = kept;
    this.head = 0;
    this.size -= freed;
  }
}
