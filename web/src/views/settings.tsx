import { useState } from 'preact/hooks';
import { ApiError, type Api } from '../api.js';
import type { Project } from '../types.js';
import { FieldError, OtherErrors, problemsByField } from './field-errors.js';

const FIELDS = ['approval_threshold_usd', 'approval_timeout_s', 'max_parallel_tasks'] as const;

/** The project's name and settings (approval threshold and timeout, parallelism). */
export function SettingsView({ api, project, onSaved }: { api: Api; project: Project; onSaved(p: Project): void }) {
  const [name, setName] = useState(project.name);
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(FIELDS.map((f) => [f, String(project.settings[f])])));
  const [error, setError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState(false);

  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    const settings = Object.fromEntries(FIELDS.map((f) => [f, values[f]?.trim() === '' ? null : Number(values[f])]));
    try {
      onSaved(await api.patch<Project>(`/v1/projects/${project.id}`, { name, settings }));
      setSaved(true);
    } catch (err) {
      if (err instanceof ApiError) setError(err);
      else throw err;
    }
  };
  const problems = problemsByField(error);
  const label: Record<(typeof FIELDS)[number], string> = {
    approval_threshold_usd: 'Approval threshold (USD): plans estimated above it wait for your approval',
    approval_timeout_s: 'Approval timeout (seconds)',
    max_parallel_tasks: 'Tasks running at once',
  };
  return (
    <form class="settings form" onSubmit={save} data-testid="settings">
      <OtherErrors err={error} shown={['name', ...FIELDS.map((f) => `settings.${f}`)]} />
      <label>
        Name
        <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <FieldError problems={problems} field="name" />
      </label>
      {FIELDS.map((f) => (
        <label key={f}>
          {label[f]}
          <input name={f} inputMode="decimal" value={values[f]} onInput={(e) => setValues({ ...values, [f]: e.currentTarget.value })} />
          <FieldError problems={problems} field={`settings.${f}`} />
        </label>
      ))}
      <p class="muted">Empty resets a setting to the server's default.</p>
      <button class="primary" type="submit">Save</button>
      {saved && <span class="ok" data-testid="saved">Saved</span>}
    </form>
  );
}
