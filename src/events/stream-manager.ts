import type { Redis } from 'ioredis';
import { AppError } from '../core/errors.js';
import type { Logger } from '../logger.js';
import { createRedis } from '../redis.js';
import { parseLiveMessage, type LiveMessage } from './live-message.js';

/** What the manager needs from one open client stream. */
export interface ManagedStream {
  /** A message of the stream's channel; must not block (queue it). */
  deliver(m: LiveMessage): void;
  /** Pub/sub may have lost messages (the subscriber reconnected): catch up from PostgreSQL. */
  resync(): void;
  /** Called every half heartbeat interval; the stream pings if it has been idle. */
  tick(now: number): void;
  /** The process is shutting down: end the stream (the client resumes elsewhere). */
  shutdown(): void;
}

export interface StreamManagerOptions {
  redisUrl: string;
  logger: Logger;
  /** Idle streams get `: ping` at least this often (events.md: ≤ 15 s). */
  heartbeatMs: number;
  /** Open streams one user may hold on this process. */
  maxStreamsPerUser: number;
  /** Bytes a stream may queue for a slow client before it is closed (see BoundedInbox). */
  maxQueuedBytes: number;
  /** How long a stream waits for Redis to confirm its subscription before answering 503. */
  subscribeTimeoutMs?: number;
  /** Metrics hook: publish-to-delivery delay (now − event.at) of each live event written to a client. */
  onDelivered?: (delayMs: number) => void;
  /** Connection name shown by Redis CLIENT LIST. */
  connectionName?: string;
}

export interface StreamManager {
  readonly heartbeatMs: number;
  readonly maxQueuedBytes: number;
  /**
   * Counts the stream against the user's cap (429 `rate_limited` past it),
   * subscribes it to `channel` and resolves once Redis confirmed the
   * subscription, so whatever is published from then on reaches the stream
   * (503 `unavailable` if Redis does not confirm in time). Returns `detach`:
   * idempotent; unsubscribes the channel when its last stream leaves.
   */
  attach(userId: string, channel: string, stream: ManagedStream): Promise<() => void>;
  /** Metrics hook: streams currently open on this process. */
  openStreams(): number;
  /** Channels this process is subscribed to (one per watched plan or session). */
  subscribedChannels(): number;
  /** Records a live delivery (for `onDelivered`). */
  delivered(delayMs: number): void;
  /** Ends every stream and closes the subscriber connection. Idempotent. */
  close(): Promise<void>;
}

interface Channel {
  streams: Set<ManagedStream>;
  ready: Promise<unknown>;
}

/**
 * The SSE fan-out of one API process: ONE Redis subscriber connection,
 * reference-counted channel subscriptions (a plan watched by 1,000 clients
 * costs one SUBSCRIBE and one JSON.parse per message), per-user caps and
 * the heartbeat clock of every stream.
 */
export function createStreamManager(opts: StreamManagerOptions): StreamManager {
  const { logger, heartbeatMs } = opts;
  const subscribeTimeoutMs = opts.subscribeTimeoutMs ?? 5_000;
  const channels = new Map<string, Channel>();
  const streams = new Set<ManagedStream>();
  const perUser = new Map<string, number>();
  let closing: Promise<void> | undefined;
  let sub: Redis | undefined;

  // Made on the first stream, so an app that never serves SSE (most tests) opens no connection.
  const subscriber = (): Redis => {
    if (sub) return sub;
    const conn = createRedis(opts.redisUrl, opts.connectionName ?? 'codelab-api:sse');
    let connectedOnce = false;
    conn.on('error', (err: Error) => logger.warn({ err: err.message }, 'sse subscriber connection error'));
    conn.on('ready', () => {
      // ioredis resubscribes by itself; what was published while it was away is read back from PostgreSQL.
      if (connectedOnce) for (const s of streams) s.resync();
      connectedOnce = true;
    });
    conn.on('message', (channel: string, raw: string) => {
      const entry = channels.get(channel);
      if (!entry) return;
      const m = parseLiveMessage(raw);
      if (!m) return;
      for (const s of entry.streams) s.deliver(m);
    });
    return (sub = conn);
  };

  const timer = setInterval(() => {
    const now = Date.now();
    for (const s of streams) s.tick(now);
  }, Math.max(10, Math.floor(heartbeatMs / 2)));
  timer.unref();

  const leave = (channel: string, stream: ManagedStream) => {
    const entry = channels.get(channel);
    if (!entry || !entry.streams.delete(stream) || entry.streams.size > 0) return;
    channels.delete(channel);
    if (!closing) sub?.unsubscribe(channel).catch(() => undefined);
  };

  const attach = async (userId: string, channel: string, stream: ManagedStream) => {
    if (closing) throw new AppError('SHUTTING_DOWN', 'unavailable', 'the server is shutting down, reconnect', { retryAfterS: 1 });
    const held = perUser.get(userId) ?? 0;
    if (held >= opts.maxStreamsPerUser) {
      throw new AppError('TOO_MANY_STREAMS', 'rate_limited', `at most ${opts.maxStreamsPerUser} open event streams per user`, {
        retryAfterS: 5,
        details: { limit: opts.maxStreamsPerUser },
      });
    }
    perUser.set(userId, held + 1);
    streams.add(stream);
    let entry = channels.get(channel);
    if (!entry) {
      const ready = subscriber().subscribe(channel);
      entry = { streams: new Set(), ready };
      channels.set(channel, entry);
      const created = entry;
      // A failed SUBSCRIBE must not be reused by the next stream of this channel.
      ready.catch(() => {
        if (channels.get(channel) === created) channels.delete(channel);
      });
    }
    entry.streams.add(stream);

    let detached = false;
    const detach = () => {
      if (detached) return;
      detached = true;
      streams.delete(stream);
      const n = (perUser.get(userId) ?? 1) - 1;
      if (n > 0) perUser.set(userId, n);
      else perUser.delete(userId);
      leave(channel, stream);
    };

    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        entry.ready,
        new Promise((_, reject) => {
          timeout = setTimeout(() => reject(new Error('subscribe timed out')), subscribeTimeoutMs);
        }),
      ]);
    } catch (err) {
      detach();
      throw new AppError('EVENTS_UNAVAILABLE', 'unavailable', 'live events are unavailable, retry later', { cause: err, retryAfterS: 5 });
    } finally {
      clearTimeout(timeout);
    }
    return detach;
  };

  return {
    heartbeatMs,
    maxQueuedBytes: opts.maxQueuedBytes,
    attach,
    openStreams: () => streams.size,
    subscribedChannels: () => channels.size,
    delivered(delayMs) {
      if (!opts.onDelivered) return;
      try {
        opts.onDelivered(delayMs);
      } catch (err) {
        logger.warn({ err }, 'onDelivered hook failed');
      }
    },
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        for (const s of [...streams]) s.shutdown();
        channels.clear();
        if (sub) await sub.quit().catch(() => sub?.disconnect());
      })();
      return closing;
    },
  };
}
