import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { BrandMark } from '../components/BrandMark';
import * as api from '../lib/api';
import type { Me } from '../lib/api';

interface Props {
  onLoggedIn(user: Me): void;
  /** Why the user is here, e.g. after a session expired. */
  notice?: string | null;
}

function messageFor(error: unknown): string {
  if (error instanceof api.ApiError) {
    if (error.code === 'invalid_credentials') return 'Wrong user name or password.';
    if (error.code === 'rate_limited') {
      const wait = error.retryAfter ? ` in ${error.retryAfter} s` : ' later';
      return `Too many attempts. Try again${wait}.`;
    }
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export function LoginPage({ onLoggedIn, notice }: Props) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const errorId = useId();
  const userRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    userRef.current?.focus();
    document.title = 'Log in · Toru';
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const user = await api.login(username.trim(), password);
      onLoggedIn(user);
    } catch (e) {
      setError(messageFor(e));
      setPassword('');
      passwordRef.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login-page">
      <div className="login-card">
        <div className="login-brand">
          <BrandMark large />
          <div>
            <h1 className="login-title">Toru</h1>
            <p className="login-subtitle">Log in to manage this server’s plugins</p>
          </div>
        </div>
        {notice && !error ? (
          <div className="notice notice-info" role="status" data-testid="login-notice">
            {notice}
          </div>
        ) : null}
        <form className="login-form" onSubmit={submit} aria-describedby={error ? errorId : undefined} noValidate>
          <label className="field">
            <span className="field-label">User name</span>
            <input
              ref={userRef}
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              required
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              data-testid="login-username"
            />
          </label>
          <label className="field">
            <span className="field-label">Password</span>
            <input
              ref={passwordRef}
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              aria-invalid={error ? true : undefined}
              data-testid="login-password"
            />
          </label>
          {error ? (
            <div className="notice notice-error" role="alert" id={errorId} data-testid="login-error">
              {error}
            </div>
          ) : null}
          <button
            type="submit"
            className="button button-primary button-block"
            disabled={busy || !username.trim() || !password}
            data-testid="login-submit"
          >
            {busy ? 'Logging in…' : 'Log in'}
          </button>
        </form>
      </div>
      <p className="login-footnote">
        No account yet? Create one on the server: <code>toructl user add NAME</code>
      </p>
    </main>
  );
}
