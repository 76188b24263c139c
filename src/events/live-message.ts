import { eventJson, type StoredEvent } from './event-log.js';
import { encodeFrame } from './sse.js';

/** A stored event as it arrived from pub/sub, parsed once for every local stream. */
export class LiveEvent {
  readonly kind = 'event';
  private json?: string;
  private bySeq?: Uint8Array;
  private byId?: Uint8Array;

  constructor(readonly event: StoredEvent, readonly bytes: number) {}

  /** The `data:` JSON (events.md), serialised once. */
  data(): string {
    return (this.json ??= JSON.stringify(eventJson(this.event)));
  }

  /** The frame a plan stream sends (`id:` = seq). */
  planFrame(): Uint8Array {
    return (this.bySeq ??= encodeFrame({ id: String(this.event.seq), event: this.event.type, data: this.data() }));
  }

  /** The frame a session stream sends (`id:` = the global id). */
  sessionFrame(): Uint8Array {
    return (this.byId ??= encodeFrame({ id: this.event.id, event: this.event.type, data: this.data() }));
  }
}

/** An ephemeral event (`task.delta`): live only, no `id:`, no seq. */
export class LiveDelta {
  readonly kind = 'delta';
  private bytesOut?: Uint8Array;

  constructor(
    readonly planId: string,
    readonly sessionId: string,
    readonly type: string,
    readonly taskId: string | null,
    readonly at: string,
    readonly payload: Record<string, unknown>,
    readonly bytes: number,
  ) {}

  frame(): Uint8Array {
    return (this.bytesOut ??= encodeFrame({
      event: this.type,
      data: JSON.stringify({ type: this.type, plan_id: this.planId, ...(this.taskId ? { task_id: this.taskId } : {}), at: this.at, ...this.payload }),
    }));
  }
}

export type LiveMessage = LiveEvent | LiveDelta;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses what `publishEvents` / `publishEphemeral` put on a channel;
 * undefined for anything else (a foreign publisher must not break streams).
 */
export function parseLiveMessage(raw: string): LiveMessage | undefined {
  let m: unknown;
  try {
    m = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isObject(m) || typeof m.planId !== 'string' || typeof m.sessionId !== 'string' || typeof m.type !== 'string') return undefined;
  const at = typeof m.at === 'string' ? m.at : new Date().toISOString();
  const data = isObject(m.data) ? m.data : {};
  const taskId = typeof m.taskId === 'string' ? m.taskId : null;
  if (m.ephemeral === true) return new LiveDelta(m.planId, m.sessionId, m.type, taskId, at, data, raw.length);
  if (typeof m.id !== 'string' || !/^\d+$/.test(m.id) || typeof m.seq !== 'number' || !Number.isInteger(m.seq)) return undefined;
  return new LiveEvent({ id: m.id, planId: m.planId, sessionId: m.sessionId, seq: m.seq, type: m.type, taskId, at, data }, raw.length);
}
