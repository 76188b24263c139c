/**
 * The process's serving state for readiness probes: once draining (SIGTERM
 * received), `/health/ready` answers 503 so the load balancer stops sending
 * new requests while in-flight ones finish.
 */
export interface Lifecycle {
  readonly draining: boolean;
  /** Idempotent. */
  markDraining(): void;
}

export function createLifecycle(): Lifecycle {
  let draining = false;
  return {
    get draining() {
      return draining;
    },
    markDraining() {
      draining = true;
    },
  };
}
