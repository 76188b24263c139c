import { useEffect, useState } from 'preact/hooks';
import { describeError, type Api } from '../api.js';
import { href, type Route } from '../route.js';
import type { Project } from '../types.js';
import { AgentsView } from './agents.js';
import { ChatView } from './chat.js';
import { SettingsView } from './settings.js';

type ProjectRoute = Exclude<Route, { name: 'projects' }>;

/** A project's pages: chat (per session), agents, settings. */
export function ProjectView({ api, route }: { api: Api; route: ProjectRoute }) {
  const [project, setProject] = useState<Project | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setProject(null);
    api.get<Project>(`/v1/projects/${route.projectId}`).then(setProject, (e: unknown) => setError(describeError(e)));
  }, [api, route.projectId]);

  if (error) return <p class="form-error">{error}</p>;
  if (!project) return <p class="muted">Loading…</p>;
  const tab = (name: ProjectRoute['name'], label: string, to: string) => (
    <a class={route.name === name ? 'tab active' : 'tab'} href={to}>{label}</a>
  );
  return (
    <div class="project">
      <div class="project-head">
        <a href={href.projects()} class="muted">Projects</a> / <h2>{project.name}</h2>
        <nav class="tabs">
          {tab('chat', 'Chat', href.chat(project.id))}
          {tab('agents', 'Agents', href.agents(project.id))}
          {tab('settings', 'Settings', href.settings(project.id))}
        </nav>
      </div>
      {route.name === 'chat' && <ChatView api={api} project={project} sessionId={route.sessionId} />}
      {route.name === 'agents' && <AgentsView api={api} projectId={project.id} />}
      {route.name === 'settings' && <SettingsView api={api} project={project} onSaved={setProject} />}
    </div>
  );
}
