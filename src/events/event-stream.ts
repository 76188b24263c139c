import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { Logger } from '../logger.js';
import { BoundedInbox } from './bounded-inbox.js';
import { eventJson, type StoredEvent } from './event-log.js';
import { planEventsAfter, REPLAY_PAGE, sessionEventsAfter, sessionPlanSeqs } from './event-replay.js';
import type { LiveDelta, LiveEvent, LiveMessage } from './live-message.js';
import { encodeFrame, PING_FRAME } from './sse.js';
import type { ManagedStream, StreamManager } from './stream-manager.js';

/** The events after which a plan stream ends: the plan reached a terminal status. */
export const TERMINAL_EVENT_TYPES: ReadonlySet<string> = new Set([
  'plan.completed', 'plan.failed', 'plan.partial_success', 'plan.cancelled', 'plan.rejected', 'plan.expired',
]);

/** Where the bytes go: the HTTP response of one client. */
export interface SseSink {
  /** Resolves once the transport took the bytes (backpressure: a slow client makes this slow). */
  write(bytes: Uint8Array): Promise<void>;
  /** Ends the response now, even with a write pending. */
  abort(): void;
}

export type StreamTarget =
  /** `terminal`: the plan was already terminal when the client connected (replay, then close). */
  | { kind: 'plan'; planId: string; terminal: boolean; afterSeq: number }
  | { kind: 'session'; sessionId: string; afterId: bigint };

export type CloseReason = 'terminal' | 'client' | 'overflow' | 'shutdown' | 'error';

type Item =
  | { kind: 'event'; msg: LiveEvent; bytes: number; droppable: false }
  | { kind: 'delta'; msg: LiveDelta; bytes: number; droppable: true }
  | { kind: 'resync' | 'ping'; bytes: 0; droppable: boolean };

/**
 * One client's event stream: replay from PostgreSQL, then the live tail.
 * The stream is attached to its pub/sub channel BEFORE it replays, so live
 * messages queue in the inbox meanwhile; every stored event then passes one
 * gate: per plan, seq `last + 1` is sent, a lower seq was already sent
 * (dropped), a higher one means a publish was lost or overtaken and the gap
 * is read from PostgreSQL first. Hence every event exactly once, in per-plan
 * order, whatever the interleaving of replay, pub/sub and reconnects.
 *
 * Session streams send the global id as `id:` only while it increases: an
 * event that committed late (a lower id than one already sent, possible when
 * two plans of the session write at once) is sent without `id:`, so the
 * client's Last-Event-ID never moves backwards and a resume never repeats.
 */
export class EventStream implements ManagedStream {
  private readonly inbox: BoundedInbox<Item>;
  /** Highest seq sent per plan. */
  private seqs = new Map<string, number>();
  /** Session streams: the highest global id sent. */
  private lastId = 0n;
  private sink?: SseSink;
  private writing = false;
  private pingQueued = false;
  private resyncQueued = false;
  private lastWriteAt = Date.now();
  private lastEventAt = Date.now();
  private stopped = false;
  /** Why the stream ended (for logs and tests). */
  reason: CloseReason | undefined;

  constructor(
    private readonly deps: { db: Kysely<Database>; manager: StreamManager; logger: Logger },
    readonly target: StreamTarget,
  ) {
    this.inbox = new BoundedInbox<Item>(deps.manager.maxQueuedBytes);
    if (target.kind === 'plan') this.seqs.set(target.planId, target.afterSeq);
    else this.lastId = target.afterId;
  }

  deliver(m: LiveMessage): void {
    if (this.stopped) return;
    const r = m.kind === 'event'
      ? this.inbox.push({ kind: 'event', msg: m, bytes: m.bytes, droppable: false })
      : this.inbox.push({ kind: 'delta', msg: m, bytes: m.bytes, droppable: true });
    if (r === 'overflow') {
      this.deps.logger.info({ queuedBytes: this.inbox.bytes, droppedDeltas: this.inbox.dropped }, 'sse client too slow: stream closed');
      this.stop('overflow', true);
    }
  }

  resync(): void {
    if (this.stopped || this.resyncQueued) return;
    this.resyncQueued = true;
    this.inbox.push({ kind: 'resync', bytes: 0, droppable: false });
  }

  tick(now: number): void {
    if (this.stopped) return;
    const half = this.deps.manager.heartbeatMs / 2;
    if (!this.pingQueued && now - this.lastWriteAt >= half) {
      this.pingQueued = true;
      this.inbox.push({ kind: 'ping', bytes: 0, droppable: true });
    }
    // A lost publish heals with the plan's next event; a lost LAST event has no next one.
    if (this.target.kind === 'plan' && now - this.lastEventAt >= 4 * this.deps.manager.heartbeatMs) {
      this.lastEventAt = now;
      this.resync();
    }
  }

  shutdown(): void {
    this.stop('shutdown', this.writing);
  }

  /** The client went away (or the route gave up): stop without writing anything more. */
  stop(reason: CloseReason, abortSink = false): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reason = reason;
    this.inbox.close();
    if (abortSink) this.sink?.abort();
  }

  /** Replays, then streams live until the plan ends, the client leaves or the stream is stopped. */
  async run(sink: SseSink, detach: () => void): Promise<void> {
    this.sink = sink;
    try {
      await this.catchUp();
      if (this.target.kind === 'plan' && this.target.terminal) this.finish();
      while (!this.stopped) {
        const item = await this.inbox.next();
        if (!item) break;
        if (item.kind === 'event') await this.emit(item.msg.event, item.msg);
        else if (item.kind === 'delta') await this.write(item.msg.frame());
        else if (item.kind === 'ping') {
          this.pingQueued = false;
          await this.write(PING_FRAME);
        } else {
          this.resyncQueued = false;
          await this.catchUp();
        }
      }
    } catch (err) {
      if (!this.stopped) this.deps.logger.warn({ err }, 'sse stream failed; the client will resume');
      this.stop('error');
    } finally {
      this.stop(this.reason ?? 'client');
      detach();
    }
  }

  private finish(): void {
    this.stop('terminal');
  }

  /** Everything in PostgreSQL after what this stream has sent. */
  private async catchUp(): Promise<void> {
    if (this.target.kind === 'plan') {
      const { planId } = this.target;
      for (;;) {
        const rows = await planEventsAfter(this.deps.db, planId, this.seqs.get(planId) ?? 0);
        for (const e of rows) await this.emit(e);
        if (rows.length < REPLAY_PAGE || this.stopped) return;
      }
    }
    const { sessionId } = this.target;
    if (this.lastId > 0n && this.seqs.size === 0) this.seqs = await sessionPlanSeqs(this.deps.db, sessionId, this.lastId);
    let cursor = this.lastId;
    for (;;) {
      const rows = await sessionEventsAfter(this.deps.db, sessionId, cursor);
      for (const e of rows) await this.emit(e);
      if (rows.length < REPLAY_PAGE || this.stopped) return;
      cursor = BigInt(rows[rows.length - 1]!.id);
    }
  }

  /** Sends `e` unless already sent; fills a seq gap before it. `live`: it came from pub/sub. */
  private async emit(e: StoredEvent, live?: LiveEvent): Promise<void> {
    if (this.stopped) return;
    const last = this.seqs.get(e.planId) ?? 0;
    if (e.seq <= last) return;
    if (e.seq > last + 1) {
      await this.fill(e.planId, last, e.seq);
      if (this.stopped || e.seq <= (this.seqs.get(e.planId) ?? 0)) return;
    }
    let frame: Uint8Array;
    if (this.target.kind === 'plan') {
      frame = live ? live.planFrame() : encodeFrame({ id: String(e.seq), event: e.type, data: JSON.stringify(eventJson(e)) });
    } else {
      const id = BigInt(e.id);
      const advances = id > this.lastId;
      if (advances) this.lastId = id;
      frame = live && advances
        ? live.sessionFrame()
        : encodeFrame({ id: advances ? e.id : undefined, event: e.type, data: live ? live.data() : JSON.stringify(eventJson(e)) });
    }
    this.seqs.set(e.planId, e.seq);
    this.lastEventAt = Date.now();
    await this.write(frame);
    if (live) this.deps.manager.delivered(Date.now() - Date.parse(e.at));
    if (this.target.kind === 'plan' && TERMINAL_EVENT_TYPES.has(e.type)) this.finish();
  }

  /** Reads seqs `after < seq < before` of a plan from PostgreSQL and sends them. */
  private async fill(planId: string, after: number, before: number): Promise<void> {
    let from = after;
    for (;;) {
      const rows = await planEventsAfter(this.deps.db, planId, from, { beforeSeq: before });
      for (const e of rows) await this.emit(e);
      if (rows.length < REPLAY_PAGE || this.stopped) return;
      from = rows[rows.length - 1]!.seq;
    }
  }

  private async write(bytes: Uint8Array): Promise<void> {
    if (this.stopped || !this.sink) return;
    this.writing = true;
    this.lastWriteAt = Date.now();
    try {
      await this.sink.write(bytes);
    } finally {
      this.writing = false;
      this.lastWriteAt = Date.now();
    }
  }
}
