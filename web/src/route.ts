import { useEffect, useState } from 'preact/hooks';

/** Hash routes: the server serves one page, so no fallback route is needed. */
export type Route =
  | { name: 'projects' }
  | { name: 'chat'; projectId: string; sessionId: string | null }
  | { name: 'agents'; projectId: string }
  | { name: 'settings'; projectId: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  if (parts[0] === 'p' && parts[1]) {
    const projectId = parts[1];
    if (parts[2] === 'agents') return { name: 'agents', projectId };
    if (parts[2] === 'settings') return { name: 'settings', projectId };
    return { name: 'chat', projectId, sessionId: parts[2] === 's' && parts[3] ? parts[3] : null };
  }
  return { name: 'projects' };
}

export const href = {
  projects: () => '#/',
  chat: (projectId: string, sessionId?: string | null) => `#/p/${projectId}${sessionId ? `/s/${sessionId}` : ''}`,
  agents: (projectId: string) => `#/p/${projectId}/agents`,
  settings: (projectId: string) => `#/p/${projectId}/settings`,
};

export function navigate(to: string): void {
  window.location.hash = to;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
