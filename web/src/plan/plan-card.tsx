import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, seconds, usd, type Api } from '../api.js';
import { TERMINAL_PLAN, type Plan, type PlanEvent } from '../types.js';
import { PlanGraph } from './graph.js';
import { applyEvent, fromSnapshot, mergeSnapshot, type PlanView } from './plan-state.js';
import { openPlanStream, type StreamState } from './plan-stream.js';
import { TaskDetail } from './task-detail.js';

interface Props {
  api: Api;
  projectId: string;
  planId: string;
  /** Called once when the plan ends (the chat reloads its messages for the answer). */
  onEnded?(plan: Plan): void;
}

interface LogLine {
  seq: number | null;
  type: string;
  task: string | null;
}

/** One plan, live: graph, estimates and actual cost, approval, streamed output and the final answer. */
export function PlanCard({ api, projectId, planId, onEnded }: Props) {
  const [view, setView] = useState<PlanView | null>(null);
  const [state, setState] = useState<StreamState>('connecting');
  const [log, setLog] = useState<LogLine[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const ended = useRef(false);
  /** Whether this card watched the plan run (an already-ended plan does not call onEnded). */
  const watched = useRef(false);
  const path = `/v1/projects/${projectId}/plans/${planId}`;

  useEffect(() => {
    let stream: { close(): void } | undefined;
    let cancelled = false;
    const refresh = () =>
      api.get<Plan>(path).then((snap) => {
        if (cancelled) return snap;
        setView((v) => (v ? mergeSnapshot(v, snap) : fromSnapshot(snap)));
        if (TERMINAL_PLAN.has(snap.status) && !ended.current) {
          ended.current = true;
          if (watched.current) onEnded?.(snap);
        }
        return snap;
      });
    refresh()
      .then((snap) => {
        if (cancelled) return;
        if (TERMINAL_PLAN.has(snap.status)) {
          setState('ended');
          return;
        }
        watched.current = true;
        stream = openPlanStream(snap.events_url, api.token, {
          onEvent(e: PlanEvent, id) {
            if (e.type !== 'task.delta') setLog((l) => [...l, { seq: id ? Number(id) : null, type: e.type, task: e.task_id ?? null }]);
            setView((v) => (v ? applyEvent(v, e) : v));
            // The snapshot has what events do not carry (per-task estimates, provider, final costs).
            if (e.type === 'plan.created' || (e.type.startsWith('plan.') && TERMINAL_PLAN.has(e.type.slice(5)))) void refresh().catch(() => undefined);
          },
          onState: setState,
          onGaveUp: () => void refresh().catch(() => undefined),
        });
      })
      .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
    return () => {
      cancelled = true;
      stream?.close();
    };
  }, [api, path]);

  if (error) return <div class="plan-card error">Could not load the plan: {error}</div>;
  if (!view) return <div class="plan-card loading">Loading plan…</div>;

  const decide = async (action: 'approve' | 'reject', body?: unknown) => {
    try {
      const snap = await api.post<Plan>(`${path}/${action}`, body);
      setView((v) => (v ? mergeSnapshot(v, snap) : v));
    } catch (err) {
      setError(err instanceof ApiError ? `${action}: ${err.message}` : String(err));
    }
  };

  const provider = view.llm_provider ?? view.tasks.find((t) => t.llm_provider)?.llm_provider ?? null;
  const done = view.tasks.filter((t) => t.status === 'completed').length;
  const chosen = view.tasks.find((t) => t.task_id === selected) ?? null;
  return (
    <section class={`plan-card plan-${view.status}`} data-plan-id={view.id} data-plan-status={view.status}>
      <header class="plan-head">
        <span class={`badge status status-${view.status}`} data-testid="plan-status">{view.status.replace('_', ' ')}</span>
        {provider && <span class={`badge provider provider-${provider}`} data-testid="provider">{provider}</span>}
        {view.cache_hit && <span class="badge">cached plan</span>}
        <span class="stat">tasks <b>{done}/{view.tasks.length}</b></span>
        <span class="stat">estimate <b data-testid="estimated-cost">{usd(view.total_estimated_cost)}</b> · <b>{seconds(view.total_estimated_duration)}</b></span>
        <span class="stat">actual <b data-testid="actual-cost">{usd(view.total_actual_cost)}</b></span>
        <span class={`conn conn-${state}`} title="event stream">{state}</span>
      </header>
      {view.status === 'pending_approval' && (
        <Approval reason={view.approval_reason} expiresAt={view.approval_expires_at} onApprove={() => decide('approve')} onReject={(reason) => decide('reject', reason ? { reason } : {})} />
      )}
      {view.tasks.length > 0 ? (
        <div class="graph-wrap">
          <PlanGraph tasks={view.tasks} criticalPath={view.critical_path} selected={selected} onSelect={setSelected} />
          <p class="legend">critical path outlined · click a task for its output</p>
        </div>
      ) : (
        <p class="muted">{view.status === 'planning' ? 'Planning…' : 'No tasks.'}</p>
      )}
      {chosen && <TaskDetail task={chosen} streamed={view.deltas[chosen.task_id] ?? ''} />}
      <RunningOutput view={view} />
      {view.summary && (
        <div class="answer" data-testid="final-answer">
          <h4>Answer</h4>
          <pre>{view.summary}</pre>
        </div>
      )}
      {view.error && !view.summary && <div class="plan-error">{view.error}</div>}
      {log.length > 0 && (
        <details class="event-log">
          <summary>{log.length} events</summary>
          <ol>
            {log.map((l, i) => (
              <li key={i} data-seq={l.seq ?? ''}>
                <code>{l.seq ?? '·'}</code> {l.type} {l.task && <em>{l.task}</em>}
              </li>
            ))}
          </ol>
        </details>
      )}
    </section>
  );
}

/** The streamed text of the tasks running now (task.delta), newest last. */
function RunningOutput({ view }: { view: PlanView }) {
  const running = view.tasks.filter((t) => t.status === 'running' && view.deltas[t.task_id]);
  if (!running.length) return null;
  return (
    <div class="running-output">
      {running.map((t) => (
        <div key={t.task_id} data-testid="task-delta">
          <b>{t.task_id}</b> <pre>{view.deltas[t.task_id]}</pre>
        </div>
      ))}
    </div>
  );
}

function Approval(props: { reason: string | null; expiresAt: string | null; onApprove(): void; onReject(reason: string): void }) {
  const [now, setNow] = useState(Date.now());
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const left = props.expiresAt ? Math.max(0, Math.round((Date.parse(props.expiresAt) - now) / 1000)) : null;
  const act = (f: () => void) => {
    setBusy(true);
    f();
  };
  return (
    <div class="approval" data-testid="approval">
      <div>
        <b>Approval needed.</b> {props.reason}
        {left !== null && (
          <span class="countdown" data-testid="countdown">
            {' '}expires in {Math.floor(left / 60)}:{String(left % 60).padStart(2, '0')}
          </span>
        )}
      </div>
      <div class="approval-actions">
        <button class="primary" disabled={busy} onClick={() => act(props.onApprove)}>Approve</button>
        <input placeholder="reason (optional)" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        <button class="danger" disabled={busy} onClick={() => act(() => props.onReject(reason.trim()))}>Reject</button>
      </div>
    </div>
  );
}
