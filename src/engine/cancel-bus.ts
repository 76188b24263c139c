import type { Redis } from 'ioredis';

/**
 * Cancellation across processes: plan control publishes the plan id on one
 * channel; every worker process aborts the AbortControllers of that plan's
 * running tasks. The plan's status in PostgreSQL is the truth; this only
 * makes the abort prompt.
 */
export interface CancelBus {
  /** Registers a running task; the returned function unregisters it. */
  track(planId: string, controller: AbortController): () => void;
  /** Aborts the plan's tasks tracked in this process. */
  abortLocal(planId: string): void;
  close(): Promise<void>;
}

export const cancelChannel = (prefix: string) => `${prefix}:cancel`;

export class PlanCancelledError extends Error {
  constructor(readonly planId: string) {
    super('plan cancelled');
    this.name = 'PlanCancelledError';
  }
}

export function createCancelBus(subscriber: Redis, prefix: string): CancelBus {
  const channel = cancelChannel(prefix);
  const running = new Map<string, Set<AbortController>>();
  const abortLocal = (planId: string) => {
    for (const c of running.get(planId) ?? []) c.abort(new PlanCancelledError(planId));
  };
  subscriber.subscribe(channel).catch(() => undefined);
  subscriber.on('message', (ch: string, msg: string) => {
    if (ch === channel) abortLocal(msg);
  });
  let closed: Promise<void> | undefined;
  return {
    track(planId, controller) {
      let set = running.get(planId);
      if (!set) running.set(planId, (set = new Set()));
      set.add(controller);
      return () => {
        set.delete(controller);
        if (set.size === 0) running.delete(planId);
      };
    },
    abortLocal,
    close() {
      closed ??= subscriber.quit().then(() => undefined, () => subscriber.disconnect());
      return closed;
    },
  };
}
