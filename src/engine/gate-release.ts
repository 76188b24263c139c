import type { Queue } from 'bullmq';

/**
 * Releases gates by removing them: each removal takes the gate out of its
 * task's dependency set and, if it was the last, moves the task to `wait` in
 * the same Lua call. A gate that is locked (its slow-path re-check is running
 * right now) cannot be removed; that re-check sees the committed source and
 * completes it, which releases the task just the same. Idempotent.
 */
export async function releaseGates(gates: Queue, gateIds: readonly string[]): Promise<void> {
  if (gateIds.length === 0) return;
  await Promise.all(gateIds.map((id) => gates.remove(id)));
}
