import { useEffect, useRef, useState } from 'preact/hooks';
import { describeError, getAll, type Api } from '../api.js';
import { PlanCard } from '../plan/plan-card.js';
import { href, navigate } from '../route.js';
import type { Message, Project, Session } from '../types.js';

interface Props {
  api: Api;
  project: Project;
  sessionId: string | null;
}

/** Sessions on the left; the session's messages with each request's plan, live; a composer. */
export function ChatView({ api, project, sessionId }: Props) {
  const [sessions, setSessions] = useState<Session[]>([]);
  const [messages, setMessages] = useState<Message[]>([]);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const base = `/v1/projects/${project.id}`;
  const bottom = useRef<HTMLDivElement>(null);

  const loadSessions = () => getAll<Session>(api, `${base}/sessions`, 1).then(setSessions, () => undefined);
  const loadMessages = () =>
    sessionId
      ? getAll<Message>(api, `${base}/sessions/${sessionId}/messages`).then(setMessages, (e: unknown) => setError(describeError(e)))
      : Promise.resolve(setMessages([]));
  useEffect(() => void loadSessions(), [api, project.id]);
  useEffect(() => void loadMessages(), [api, project.id, sessionId]);
  useEffect(() => bottom.current?.scrollIntoView({ block: 'end' }), [messages.length]);

  const send = async (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return;
    setSending(true);
    setError(null);
    try {
      const accepted = await api.post<{ plan_id: string; session_id: string }>(`${base}/chat`, {
        message: text,
        ...(sessionId ? { session_id: sessionId } : {}),
      });
      setText('');
      if (accepted.session_id !== sessionId) {
        await loadSessions();
        navigate(href.chat(project.id, accepted.session_id));
      } else {
        await loadMessages();
      }
    } catch (err) {
      setError(describeError(err));
    } finally {
      setSending(false);
    }
  };

  const lastPlan = [...messages].reverse().find((m) => m.role === 'user' && m.plan_id)?.plan_id;
  return (
    <div class="chat">
      <aside class="sessions">
        <a class={sessionId ? 'session' : 'session active'} href={href.chat(project.id)}>+ New session</a>
        {sessions.map((s) => (
          <a key={s.id} class={s.id === sessionId ? 'session active' : 'session'} href={href.chat(project.id, s.id)} title={s.topic ?? ''}>
            {s.topic ?? 'Untitled'}
          </a>
        ))}
      </aside>
      <section class="conversation">
        {messages.length === 0 && <p class="muted">Ask for something: it is planned as a graph of tasks for your agents.</p>}
        {messages.map((m) => (
          <div key={m.id} class={`message ${m.role}`} data-role={m.role}>
            <div class="bubble">
              <pre>{m.content}</pre>
            </div>
            {m.role === 'user' && m.plan_id && (
              <PlanSlot api={api} projectId={project.id} planId={m.plan_id} open={m.plan_id === lastPlan} onEnded={() => void loadMessages()} />
            )}
          </div>
        ))}
        <div ref={bottom} />
        <form class="composer" onSubmit={send}>
          <textarea
            name="message"
            rows={3}
            placeholder="Ask your agents…  (Ctrl+Enter sends)"
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send(e);
            }}
          />
          <button class="primary" type="submit" disabled={sending || !text.trim()}>Send</button>
        </form>
        {error && <p class="form-error">{error}</p>}
      </section>
    </div>
  );
}

/** The latest plan is shown open; earlier ones on demand (each open card may hold an event stream). */
function PlanSlot(props: { api: Api; projectId: string; planId: string; open: boolean; onEnded(): void }) {
  const [open, setOpen] = useState(props.open);
  useEffect(() => setOpen((o) => o || props.open), [props.open]);
  if (!open) {
    return <button class="link show-plan" onClick={() => setOpen(true)}>Show plan</button>;
  }
  return <PlanCard api={props.api} projectId={props.projectId} planId={props.planId} onEnded={props.onEnded} />;
}
