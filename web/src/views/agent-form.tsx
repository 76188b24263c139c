import { useState } from 'preact/hooks';
import { ApiError, type Api } from '../api.js';
import type { Agent } from '../types.js';
import { FieldError, OtherErrors, problemsByField } from './field-errors.js';

const TEXT = ['role', 'provider', 'model'] as const;
const NUMBERS = ['temperature', 'max_output_tokens'] as const;
const LISTS = ['tools', 'capabilities'] as const;
const ALL_FIELDS = ['name', ...[...TEXT, 'system_prompt', ...NUMBERS, ...LISTS].map((f) => `config.${f}`)];

/** A number when the text is one; otherwise the text itself, so that the API names the field in its 400. */
const numberOrText = (s: string): number | string => (s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : s);
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

interface Props {
  api: Api;
  projectId: string;
  /** Edit this agent; a new one when absent. */
  agent?: Agent;
  onDone(agent: Agent | null): void;
}

/**
 * Create or edit an agent. Validation is the API's (the same rules as every
 * client): a 400's `details` name `config.<field>` and appear next to it.
 */
export function AgentForm({ api, projectId, agent, onDone }: Props) {
  const c = agent?.config;
  const [v, setV] = useState<Record<string, string>>({
    name: agent?.name ?? '',
    role: c?.role ?? '',
    system_prompt: c?.system_prompt ?? '',
    provider: c?.provider ?? '',
    model: c?.model ?? '',
    temperature: String(c?.temperature ?? 0.3),
    max_output_tokens: String(c?.max_output_tokens ?? 2000),
    tools: c?.tools.join(', ') ?? '',
    capabilities: c?.capabilities.join(', ') ?? '',
  });
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: string) => (e: Event) => setV({ ...v, [k]: (e.currentTarget as HTMLInputElement).value });

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const config: Record<string, unknown> = {
      role: v.role, system_prompt: v.system_prompt, model: v.model,
      temperature: numberOrText(v.temperature ?? ''), max_output_tokens: numberOrText(v.max_output_tokens ?? ''),
      tools: list(v.tools ?? ''), capabilities: list(v.capabilities ?? ''),
    };
    if (v.provider?.trim()) config.provider = v.provider.trim();
    try {
      const saved = agent
        ? await api.patch<Agent>(`/v1/projects/${projectId}/agents/${agent.id}`, { name: v.name, config })
        : await api.post<Agent>(`/v1/projects/${projectId}/agents`, { name: v.name, config });
      onDone(saved);
    } catch (err) {
      if (err instanceof ApiError) setError(err);
      else throw err;
    } finally {
      setBusy(false);
    }
  };

  const problems = problemsByField(error);
  const field = (key: string, label: string, input: preact.JSX.Element) => {
    const path = key === 'name' ? 'name' : `config.${key}`;
    return (
      <label class={problems.has(path) ? 'invalid' : ''}>
        {label}
        {input}
        <FieldError problems={problems} field={path} />
      </label>
    );
  };
  return (
    <form class="agent-form form" onSubmit={submit} data-testid="agent-form">
      <h3>{agent ? `Edit ${agent.name}` : 'New agent'}</h3>
      <OtherErrors err={error} shown={ALL_FIELDS} />
      {field('name', 'Name (a-z, 0-9, _ or -)', <input name="name" value={v.name} onInput={set('name')} />)}
      {field('role', 'Role', <input name="role" value={v.role} onInput={set('role')} />)}
      {field('system_prompt', 'System prompt', <textarea name="system_prompt" rows={4} value={v.system_prompt} onInput={set('system_prompt')} />)}
      <div class="row">
        {field('provider', 'Provider', <input name="provider" list="providers" placeholder="server default" value={v.provider} onInput={set('provider')} />)}
        {field('model', 'Model', <input name="model" value={v.model} onInput={set('model')} />)}
      </div>
      <div class="row">
        {field('temperature', 'Temperature', <input name="temperature" value={v.temperature} onInput={set('temperature')} />)}
        {field('max_output_tokens', 'Max output tokens', <input name="max_output_tokens" value={v.max_output_tokens} onInput={set('max_output_tokens')} />)}
      </div>
      {field('tools', 'Tools (comma-separated)', <input name="tools" value={v.tools} onInput={set('tools')} />)}
      {field('capabilities', 'Capabilities (comma-separated)', <input name="capabilities" value={v.capabilities} onInput={set('capabilities')} />)}
      <datalist id="providers">
        <option value="simulated" />
        <option value="openai" />
        <option value="anthropic" />
      </datalist>
      <div class="row">
        <button class="primary" type="submit" disabled={busy}>{agent ? 'Save' : 'Create agent'}</button>
        <button type="button" onClick={() => onDone(null)}>Cancel</button>
      </div>
    </form>
  );
}
