/**
 * Follows one plan's event stream with EventSource. The browser reconnects
 * by itself after a dropped connection and sends `Last-Event-ID` (the id of
 * the last event that had one: `task.delta` has none and does not move it).
 * When the browser gives up (the server answered an error status: 401, 429,
 * 503…), we open a new EventSource ourselves, and since a new one starts
 * with no id, we pass the last id we saw as `?last_event_id=`: either way
 * the server replays exactly what we missed.
 */
import type { PlanEvent } from '../types.js';

/** Every event type the UI listens to (EventSource dispatches named events only to their own listeners). */
export const EVENT_TYPES = [
  'plan.planning', 'plan.created', 'plan.pending_approval', 'plan.approved', 'plan.rejected', 'plan.expired',
  'plan.executing', 'plan.completed', 'plan.failed', 'plan.partial_success', 'plan.cancelled',
  'task.queued', 'task.started', 'task.delta', 'task.tool_call', 'task.message', 'task.completed', 'task.failed', 'task.skipped',
] as const;

const TERMINAL_EVENTS = new Set(['plan.completed', 'plan.failed', 'plan.partial_success', 'plan.rejected', 'plan.expired', 'plan.cancelled']);

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'ended';

export interface PlanStreamHandlers {
  onEvent(event: PlanEvent, id: string | null): void;
  onState(state: StreamState): void;
  /** The browser gave up on the stream: the owner checks the token (a 401 signs out) before we reopen. */
  onGaveUp?(): void;
}

export interface PlanStream {
  close(): void;
  /** The id of the last event received (what a reconnect resumes from). */
  lastEventId(): string;
}

export function openPlanStream(eventsUrl: string, token: string, handlers: PlanStreamHandlers, afterId = ''): PlanStream {
  let lastId = afterId;
  let source: EventSource | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let closed = false;

  const open = () => {
    const params = new URLSearchParams({ access_token: token });
    if (lastId) params.set('last_event_id', lastId);
    const es = new EventSource(`${eventsUrl}?${params}`);
    source = es;
    handlers.onState(failures ? 'reconnecting' : 'connecting');
    es.onopen = () => {
      failures = 0;
      handlers.onState('live');
    };
    const onMessage = (m: MessageEvent<string>) => {
      if (m.lastEventId) lastId = m.lastEventId;
      let event: PlanEvent;
      try {
        event = JSON.parse(m.data) as PlanEvent;
      } catch {
        return;
      }
      handlers.onEvent(event, m.lastEventId || null);
      if (TERMINAL_EVENTS.has(event.type)) {
        // The server closes a terminal stream; without this the browser would reconnect and replay nothing, forever.
        stop();
        handlers.onState('ended');
      }
    };
    for (const type of EVENT_TYPES) es.addEventListener(type, onMessage as EventListener);
    es.onerror = () => {
      if (closed) return;
      if (es.readyState === EventSource.CONNECTING) {
        handlers.onState('reconnecting'); // the browser retries by itself, with Last-Event-ID
        return;
      }
      es.close();
      failures++;
      handlers.onState('reconnecting');
      handlers.onGaveUp?.();
      retryTimer = setTimeout(() => {
        if (!closed) open();
      }, Math.min(15_000, 500 * 2 ** Math.min(failures, 5)));
    };
  };

  const stop = () => {
    closed = true;
    clearTimeout(retryTimer);
    source?.close();
  };

  open();
  return { close: stop, lastEventId: () => lastId };
}
