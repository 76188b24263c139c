import { useEffect, useState } from 'preact/hooks';
import { ApiError, describeError, getAll, usd, type Api } from '../api.js';
import { href, navigate } from '../route.js';
import type { Project } from '../types.js';
import { FieldError, problemsByField } from './field-errors.js';

/** Your projects, newest first, and a form to make one. */
export function ProjectsView({ api }: { api: Api }) {
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [name, setName] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);

  useEffect(() => {
    getAll<Project>(api, '/v1/projects', 5).then(setProjects, (e: unknown) => setLoadError(describeError(e)));
  }, [api]);

  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const p = await api.post<Project>('/v1/projects', { name });
      navigate(href.chat(p.id));
    } catch (err) {
      if (err instanceof ApiError) setError(err);
      else throw err;
    }
  };
  const problems = problemsByField(error);

  return (
    <div class="projects">
      <h2>Projects</h2>
      <form class="inline" onSubmit={create} data-testid="new-project">
        <input name="name" placeholder="New project name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <button class="primary" type="submit">Create project</button>
        <FieldError problems={problems} field="name" />
        {error && !problems.has('name') && <p class="form-error">{error.message}</p>}
      </form>
      {loadError && <p class="form-error">{loadError}</p>}
      {projects === null ? (
        <p class="muted">Loading…</p>
      ) : projects.length === 0 ? (
        <p class="muted">No project yet.</p>
      ) : (
        <ul class="cards">
          {projects.map((p) => (
            <li key={p.id} data-project-id={p.id}>
              <a href={href.chat(p.id)}>{p.name}</a>
              <span class="muted">approval above {usd(p.settings.approval_threshold_usd)} · {new Date(p.created_at).toLocaleString()}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
