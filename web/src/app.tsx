import { useMemo, useState } from 'preact/hooks';
import { createApi } from './api.js';
import { href, useRoute } from './route.js';
import { SignIn } from './views/sign-in.js';
import { ProjectsView } from './views/projects.js';
import { ProjectView } from './views/project.js';

const TOKEN_KEY = 'codelab.token';

/** Whether a JWT's `exp` is still ahead (the server checks the signature; this only avoids a doomed first request). */
function usable(token: string | null): token is string {
  if (!token) return false;
  try {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: number };
    return typeof payload.exp !== 'number' || payload.exp * 1000 > Date.now();
  } catch {
    return false;
  }
}

function subjectOf(token: string): string {
  try {
    const p = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { sub?: string; name?: string };
    return p.name ?? p.sub ?? '';
  } catch {
    return '';
  }
}

export function App() {
  const [token, setToken] = useState<string | null>(() => {
    const t = localStorage.getItem(TOKEN_KEY);
    return usable(t) ? t : null;
  });
  const [notice, setNotice] = useState<string | null>(null);
  const route = useRoute();
  const signOut = (why: string | null) => {
    localStorage.removeItem(TOKEN_KEY);
    setToken(null);
    setNotice(why);
  };
  const api = useMemo(() => (token ? createApi(token, () => signOut('Your session has expired: sign in again.')) : null), [token]);

  if (!api || !token) {
    return (
      <SignIn
        notice={notice}
        onToken={(t) => {
          localStorage.setItem(TOKEN_KEY, t);
          setNotice(null);
          setToken(t);
        }}
      />
    );
  }
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href={href.projects()}>codelab</a>
        <span class="who" data-testid="signed-in-as">{subjectOf(token)}</span>
        <button class="link" onClick={() => signOut(null)}>Sign out</button>
      </header>
      <main>
        {route.name === 'projects' ? <ProjectsView api={api} /> : <ProjectView api={api} route={route} />}
      </main>
    </div>
  );
}
