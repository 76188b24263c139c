import { describe, expect, it } from 'vitest';
import { applyEvent, fromSnapshot, mergeSnapshot } from '../web/src/plan/plan-state.js';
import type { Plan } from '../web/src/types.js';

/** The UI's plan state: events and snapshots arrive in any order. */
const snapshot = (over: Partial<Plan> = {}): Plan =>
  ({
    id: 'p', project_id: 'x', session_id: 's', original_request: 'r', status: 'created', total_estimated_cost: 0.01,
    total_estimated_duration: 1, total_actual_cost: 0, requires_approval: true, approval_reason: null, approval_expires_at: null,
    cache_hit: false, critical_path: [], summary: null, error: null, created_at: '', started_at: null, completed_at: null, tasks: [],
    events_url: '/e', llm_provider: 'simulated', ...over,
  }) as unknown as Plan;

describe('plan state in the web UI', () => {
  it('keeps the approval expiry an event brought when an older snapshot arrives after it', () => {
    let view = fromSnapshot(snapshot());
    view = applyEvent(view, { seq: 3, type: 'plan.pending_approval', plan_id: 'p', at: '', approval_reason: 'costly', approval_expires_at: '2030-01-01T00:00:00.000Z' } as never);
    // the refetch that plan.created triggered, answered before the plan became pending
    view = mergeSnapshot(view, snapshot({ status: 'created' }));
    expect(view.status).toBe('pending_approval');
    expect(view.approval_expires_at).toBe('2030-01-01T00:00:00.000Z');
    expect(view.approval_reason).toBe('costly');
  });

  it('takes a newer snapshot’s values', () => {
    const view = mergeSnapshot(fromSnapshot(snapshot()), snapshot({ status: 'completed', summary: 'done', total_actual_cost: 0.02 }));
    expect(view).toMatchObject({ status: 'completed', summary: 'done', total_actual_cost: 0.02 });
  });
});
