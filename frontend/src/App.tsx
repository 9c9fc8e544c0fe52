import { useCallback, useEffect, useRef, useState } from 'react';
import { Sidebar } from './components/Sidebar';
import { Spinner } from './components/Spinner';
import * as api from './lib/api';
import type { Me } from './lib/api';
import { PluginsProvider, usePlugins } from './lib/plugins';
import { Link, matchPath, navigate, useLocation } from './lib/router';
import { useToast } from './lib/toast';
import { LoginPage } from './pages/LoginPage';
import { PluginsPage } from './pages/PluginsPage';
import { PluginViewPage } from './pages/PluginViewPage';
import { StatusPage } from './pages/StatusPage';
import { UsersPage } from './pages/UsersPage';
import { RoleProvider } from './lib/role';
import { WarmViewFrame } from './view/WarmViewFrame';

type Auth = { kind: 'checking' } | { kind: 'out'; notice: string | null } | { kind: 'in'; user: Me };

/** Only paths inside the dashboard, so `?next=` cannot send anyone elsewhere. */
function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/login')) return '/';
  return next;
}

export function App() {
  const location = useLocation();
  const [auth, setAuth] = useState<Auth>({ kind: 'checking' });

  // Who is logged in, once at start.
  useEffect(() => {
    const controller = new AbortController();
    api
      .me({ redirect: false, signal: controller.signal })
      .then((user) => setAuth({ kind: 'in', user }))
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        const notice = e instanceof api.ApiError && e.status !== 401 ? e.message : null;
        setAuth({ kind: 'out', notice });
      });
    return () => controller.abort();
  }, []);

  // Any 401 from any call: the session is gone.
  useEffect(
    () =>
      api.onUnauthorized(() => {
        setAuth((current) =>
          current.kind === 'in' ? { kind: 'out', notice: 'Your session has ended. Please log in again.' } : current,
        );
      }),
    [],
  );

  // Keep the address in step with the state: /login?next=… when logged out, and back.
  useEffect(() => {
    if (auth.kind === 'out' && location.pathname !== '/login') {
      const next = location.href === '/' ? '' : `?next=${encodeURIComponent(location.href)}`;
      navigate(`/login${next}`, { replace: true });
    } else if (auth.kind === 'in' && location.pathname === '/login') {
      navigate(safeNext(location.search.get('next')), { replace: true });
    }
  }, [auth.kind, location.pathname, location.href, location.search]);

  const onLoggedIn = useCallback((user: Me) => setAuth({ kind: 'in', user }), []);
  const onLoggedOut = useCallback(() => setAuth({ kind: 'out', notice: 'You have logged out.' }), []);

  if (auth.kind === 'checking') {
    return (
      <div className="app-loading">
        <Spinner label="Loading Toru…" />
      </div>
    );
  }
  if (auth.kind === 'out') {
    return <LoginPage onLoggedIn={onLoggedIn} notice={auth.notice} />;
  }
  return (
    <RoleProvider value={auth.user.role}>
      <PluginsProvider>
        <Shell user={auth.user} onLoggedOut={onLoggedOut} />
      </PluginsProvider>
    </RoleProvider>
  );
}

/** How many plugin views the dashboard keeps mounted in their frames (Cockpit keeps them all). */
const KEPT_VIEWS = 8;

/** The plugin views to keep, the current one included, in the order first visited: React must
 *  never reorder them, since moving an iframe in the document reloads it. Past `KEPT_VIEWS`,
 *  the one visited longest ago goes. */
function useKeptViews(current: string | null): string[] {
  const visits = useRef(new Map<string, number>());
  const [kept, setKept] = useState<string[]>([]);
  useEffect(() => {
    if (current === null) return;
    visits.current.set(current, performance.now());
    setKept((ids) => {
      if (ids.includes(current)) return ids;
      const next = [...ids, current];
      if (next.length <= KEPT_VIEWS) return next;
      const seen = (id: string) => visits.current.get(id) ?? 0;
      const oldest = next.reduce((a, b) => (seen(a) <= seen(b) ? a : b));
      visits.current.delete(oldest);
      return next.filter((id) => id !== oldest);
    });
  }, [current]);
  return current === null || kept.includes(current) ? kept : [...kept, current];
}

function Shell({ user, onLoggedOut }: { user: Me; onLoggedOut(): void }) {
  const { pathname } = useLocation();
  const { plugins } = usePlugins();
  const toast = useToast();
  const [loggingOut, setLoggingOut] = useState(false);

  const logout = async () => {
    setLoggingOut(true);
    try {
      await api.logout();
      onLoggedOut();
    } catch (e) {
      toast(`Could not log out: ${e instanceof Error ? e.message : String(e)}`, 'error');
      setLoggingOut(false);
    }
  };

  // The views visited last stay mounted, hidden, so that coming back to one is instant.
  const viewId = (matchPath('/plugins/:id', pathname) ?? matchPath('/plugins/:id/*', pathname))?.id ?? null;
  const keptViews = useKeptViews(viewId);

  let page = null;
  if (pathname === '/' || pathname === '/plugins') page = <PluginsPage />;
  else if (pathname === '/status') page = <StatusPage />;
  else if (pathname === '/users') page = <UsersPage />;
  else if (viewId === null) {
    page = (
      <div className="page">
        <div className="panel" data-testid="not-found">
          <h1 className="panel-title">Page not found</h1>
          <p>
            There is nothing at <code>{pathname}</code>.
          </p>
          <Link to="/" className="button">
            Go to plugins
          </Link>
        </div>
      </div>
    );
  }

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Sidebar plugins={plugins} user={user} onLogout={() => void logout()} loggingOut={loggingOut} />
      <main className="main" id="main" tabIndex={-1}>
        {page}
        {keptViews.map((id) => (
          <PluginViewPage key={id} pluginId={id} active={id === viewId} />
        ))}
      </main>
      {plugins?.some((p) => p.status.enabled) ? <WarmViewFrame /> : null}
    </div>
  );
}
