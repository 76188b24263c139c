import { useEffect, useState } from 'preact/hooks';

interface Props {
  notice: string | null;
  onToken(token: string): void;
}

/** Paste a token (`npm run token -- --sub you`), or, when the server allows it, the one-click dev sign-in. */
export function SignIn({ notice, onToken }: Props) {
  const [token, setToken] = useState('');
  const [dev, setDev] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    fetch('/ui/config')
      .then((r) => (r.ok ? (r.json() as Promise<{ dev_sign_in: boolean }>) : { dev_sign_in: false }))
      .then((c) => setDev(c.dev_sign_in))
      .catch(() => setDev(false));
  }, []);

  const check = async (t: string) => {
    setBusy(true);
    setError(null);
    try {
      const res = await fetch('/v1/projects?limit=1', { headers: { authorization: `Bearer ${t}` } });
      if (res.status === 401) throw new Error('The server refused this token (invalid, or expired).');
      if (!res.ok) throw new Error(`The server answered ${res.status}.`);
      onToken(t);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const devSignIn = async () => {
    setBusy(true);
    setError(null);
    try {
      const res = await fetch('/ui/dev-token', { method: 'POST' });
      if (!res.ok) throw new Error(res.status === 404 ? 'Dev sign-in is disabled on this server.' : `The server answered ${res.status}.`);
      onToken(((await res.json()) as { token: string }).token);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  };

  return (
    <div class="sign-in">
      <h1>codelab</h1>
      {notice && <p class="notice">{notice}</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) void check(token.trim());
        }}
      >
        <label for="token">Access token (JWT)</label>
        <textarea id="token" name="token" rows={4} value={token} placeholder="npm run -s token -- --sub you" onInput={(e) => setToken(e.currentTarget.value)} />
        <button class="primary" type="submit" disabled={busy || !token.trim()}>Sign in</button>
      </form>
      {dev && (
        <div class="dev-sign-in">
          <button onClick={() => void devSignIn()} disabled={busy} data-testid="dev-sign-in">Dev sign-in</button>
          <span class="muted">development only (DEV_SIGN_IN=true)</span>
        </div>
      )}
      {error && <p class="form-error">{error}</p>}
    </div>
  );
}
