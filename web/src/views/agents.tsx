import { useEffect, useState } from 'preact/hooks';
import { describeError, getAll, type Api } from '../api.js';
import type { Agent } from '../types.js';
import { AgentForm } from './agent-form.js';

/** The project's agents (starter pack included): create, edit, disable or enable. */
export function AgentsView({ api, projectId }: { api: Api; projectId: string }) {
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [editing, setEditing] = useState<Agent | 'new' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () =>
    getAll<Agent>(api, `/v1/projects/${projectId}/agents`).then(setAgents, (e: unknown) => setError(describeError(e)));
  useEffect(() => void load(), [api, projectId]);

  const toggle = async (a: Agent) => {
    try {
      await api.patch(`/v1/projects/${projectId}/agents/${a.id}`, { status: a.status === 'active' ? 'disabled' : 'active' });
      await load();
    } catch (err) {
      setError(describeError(err));
    }
  };

  return (
    <div class="agents">
      {error && <p class="form-error">{error}</p>}
      {editing ? (
        <AgentForm
          api={api}
          projectId={projectId}
          agent={editing === 'new' ? undefined : editing}
          onDone={(saved) => {
            setEditing(null);
            if (saved) void load();
          }}
        />
      ) : (
        <button class="primary" onClick={() => setEditing('new')}>New agent</button>
      )}
      {agents && (
        <table class="agents-table">
          <thead>
            <tr><th>Name</th><th>Role</th><th>Provider / model</th><th>Tools</th><th>Status</th><th /></tr>
          </thead>
          <tbody>
            {agents.map((a) => (
              <tr key={a.id} data-agent={a.name} class={a.status}>
                <td>
                  <b>{a.name}</b> {a.starter_pack && <span class="badge">starter</span>}
                </td>
                <td>{a.config.role}</td>
                <td>
                  <span class={`badge provider-${a.config.provider}`}>{a.config.provider}</span> {a.config.model}
                </td>
                <td>{a.config.tools.join(', ') || '–'}</td>
                <td data-testid="agent-status">{a.status}</td>
                <td class="actions">
                  <button class="link" onClick={() => setEditing(a)}>Edit</button>
                  <button class="link" onClick={() => void toggle(a)}>{a.status === 'active' ? 'Disable' : 'Enable'}</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
