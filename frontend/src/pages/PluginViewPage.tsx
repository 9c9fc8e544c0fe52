// A plugin's own view: its ES module is imported from the daemon and mounted into a container
// the dashboard gives it, and unmounted when the user leaves. Whatever goes wrong (no bundle,
// a bundle that does not load, a mount() that throws, a plugin that is not running) ends up as
// a panel that says so, never a blank page.

import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { LogsViewer } from '../components/LogsViewer';
import { Spinner } from '../components/Spinner';
import { HealthDot, StateBadge } from '../components/Status';
import * as api from '../lib/api';
import { iconText } from '../lib/format';
import { displayState, usePlugins } from '../lib/plugins';
import { Link, navigate } from '../lib/router';
import { useToast, type ToastKind } from '../lib/toast';

/** What a plugin's view gets from the dashboard. */
export interface PluginApi {
  /** `fetch()` scoped to the plugin's routes: `fetch('/counter')` reaches its `GET /counter`. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Navigates the dashboard to a path inside this plugin's view (`/plugins/<id><path>`). */
  navigate(path: string): void;
  showToast(message: string, kind?: ToastKind): void;
  pluginId: string;
}

/** What a plugin's bundle must export. */
export interface PluginModule {
  mount(container: HTMLElement, api: PluginApi): unknown;
  unmount?(container: HTMLElement): unknown;
}

/** Loads a module by URL; tests pass their own. */
export type Importer = (url: string) => Promise<unknown>;

const importModule: Importer = (url) => import(/* @vite-ignore */ url);

/** Failed loads or mounts per plugin. A browser keeps a module (or its failure) per URL for the
 *  life of the page, so every try after a failure asks for a new URL. */
const failures = new Map<string, number>();

type Phase =
  | { kind: 'idle' }
  | { kind: 'loading' }
  | { kind: 'mounted' }
  | { kind: 'error'; title: string; message: string };

function isModule(value: unknown): value is PluginModule {
  return typeof value === 'object' && value !== null && typeof (value as PluginModule).mount === 'function';
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** Why a bundle did not load: the daemon's own answer when it refused, else the browser's. */
async function explainLoadFailure(url: string, error: unknown): Promise<string> {
  try {
    const response = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
    if (!response.ok) {
      const failure = await api.errorFrom(response);
      if (response.status === 401) {
        api.me().catch(() => undefined);
      }
      return `${failure.message} (HTTP ${response.status})`;
    }
  } catch {
    // Fall through to the import's own message.
  }
  return messageOf(error);
}

export function PluginViewPage({ pluginId, importer = importModule }: { pluginId: string; importer?: Importer }) {
  const { plugins, pending, setEnabled } = usePlugins();
  const toast = useToast();
  const plugin = plugins?.find((p) => p.id === pluginId);
  const container = useRef<HTMLDivElement>(null);
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' });
  const [attempt, setAttempt] = useState(0);
  const [armed, setArmed] = useState(false);
  const [showLogs, setShowLogs] = useState(false);

  const state = plugin ? displayState(plugin) : null;
  const wanted = !!plugin?.status.enabled && state !== 'failed';
  const version = plugin?.version;

  // Mount once the plugin first runs, and keep the view through a restart (its requests fail
  // meanwhile, which it shows itself); take it down when the plugin is disabled or gives up.
  useEffect(() => {
    if (!wanted) setArmed(false);
    else if (state === 'running') setArmed(true);
  }, [wanted, state]);

  useEffect(() => {
    document.title = `${plugin?.name ?? pluginId} · Toru`;
  }, [plugin?.name, pluginId]);

  const pluginApi = useMemo<PluginApi>(
    () => ({
      pluginId,
      fetch: (path, init) => api.pluginFetch(pluginId, path, init),
      navigate: (path) => {
        const rest = !path || path === '/' ? '' : path.startsWith('/') ? path : `/${path}`;
        navigate(`/plugins/${encodeURIComponent(pluginId)}${rest}`);
      },
      showToast: (message, kind) => toast(message, kind),
    }),
    [pluginId, toast],
  );

  useEffect(() => {
    if (!armed) {
      setPhase({ kind: 'idle' });
      return;
    }
    const node = container.current;
    if (!node) return;
    let cancelled = false;
    let mounted: PluginModule | null = null;
    const failed = failures.get(pluginId) ?? 0;
    const url = api.bundleUrl(pluginId, failed ? `${version ?? ''}~${failed}` : version);
    setPhase({ kind: 'loading' });

    (async () => {
      let module: unknown;
      try {
        module = await importer(url);
      } catch (error) {
        failures.set(pluginId, failed + 1);
        const message = await explainLoadFailure(url, error);
        if (!cancelled) setPhase({ kind: 'error', title: 'The plugin’s view could not be loaded', message });
        return;
      }
      if (cancelled) return;
      if (!isModule(module)) {
        failures.set(pluginId, failed + 1);
        setPhase({
          kind: 'error',
          title: 'The plugin’s view could not be loaded',
          message: 'Its bundle does not export a mount(container, api) function.',
        });
        return;
      }
      try {
        mounted = module;
        await module.mount(node, pluginApi);
        if (!cancelled) setPhase({ kind: 'mounted' });
      } catch (error) {
        failures.set(pluginId, failed + 1);
        console.error(`plugin ${pluginId}: mount() failed`, error);
        if (!cancelled) setPhase({ kind: 'error', title: 'The plugin’s view failed to start', message: messageOf(error) });
      }
    })();

    return () => {
      cancelled = true;
      if (mounted?.unmount) {
        try {
          mounted.unmount(node);
        } catch (error) {
          console.error(`plugin ${pluginId}: unmount() failed`, error);
        }
      }
      // Whatever the view left behind goes too, so a remount starts clean.
      node.replaceChildren();
    };
  }, [armed, pluginId, attempt, importer, pluginApi, version]);

  const header = (
    <header className="page-header plugin-view-header">
      <div className="plugin-view-title">
        <span className="plugin-icon" aria-hidden="true">
          {iconText(plugin?.icon)}
        </span>
        <div>
          <h1 className="page-title">{plugin?.name ?? pluginId}</h1>
          {plugin ? (
            <p className="page-subtitle plugin-view-status">
              <HealthDot plugin={plugin} testId="plugin-view-health" />
              <StateBadge state={displayState(plugin)} testId="plugin-view-state" />
              <span>v{plugin.version}</span>
            </p>
          ) : null}
        </div>
      </div>
      {plugin ? (
        <div className="page-actions">
          <button type="button" className="button" onClick={() => setShowLogs(true)} aria-haspopup="dialog" data-testid="plugin-view-logs">
            Logs
          </button>
        </div>
      ) : null}
    </header>
  );

  let body: ReactNode = null;
  if (plugins === null) {
    body = (
      <div className="page-loading">
        <Spinner />
      </div>
    );
  } else if (!plugin) {
    body = (
      <div className="panel panel-error" role="alert" data-testid="plugin-view-missing">
        <h2 className="panel-title">No such plugin</h2>
        <p>
          There is no plugin with the id <code>{pluginId}</code> on this server.
        </p>
        <Link to="/" className="button">
          Back to plugins
        </Link>
      </div>
    );
  } else if (state === 'failed') {
    body = (
      <div className="panel panel-error" role="alert" data-testid="plugin-view-failed">
        <h2 className="panel-title">{plugin.name} has failed</h2>
        <p>It crashed too many times in a row, so Toru stopped restarting it.</p>
        {plugin.status.last_error ? <pre className="last-error">{plugin.status.last_error}</pre> : null}
        <div className="panel-actions">
          <button
            type="button"
            className="button button-primary"
            disabled={pending[pluginId] !== undefined}
            onClick={() => void setEnabled(pluginId, true)}
          >
            Try again
          </button>
          <button type="button" className="button" onClick={() => setShowLogs(true)}>
            View logs
          </button>
        </div>
      </div>
    );
  } else if (!plugin.status.enabled) {
    const busy = pending[pluginId] !== undefined;
    body = (
      <div className="panel" data-testid="plugin-view-disabled">
        <h2 className="panel-title">{plugin.name} is disabled</h2>
        <p>Enable it to use its view. It starts in the background and its view appears here.</p>
        <div className="panel-actions">
          <button type="button" className="button button-primary" disabled={busy} onClick={() => void setEnabled(pluginId, true)}>
            {busy ? 'Enabling…' : `Enable ${plugin.name}`}
          </button>
          <Link to="/" className="button">
            Back to plugins
          </Link>
        </div>
      </div>
    );
  } else if (!armed && state === 'backoff') {
    body = (
      <div className="panel panel-warning" data-testid="plugin-view-restarting">
        <h2 className="panel-title">
          <Spinner small label="" /> {plugin.name} crashed and is being restarted…
        </h2>
        {plugin.status.last_error ? <pre className="last-error">{plugin.status.last_error}</pre> : null}
        <p className="muted">
          {plugin.status.restarts} {plugin.status.restarts === 1 ? 'restart' : 'restarts'} so far. Its view appears as soon as it
          runs.
        </p>
        <div className="panel-actions">
          <button type="button" className="button" onClick={() => setShowLogs(true)}>
            View logs
          </button>
        </div>
      </div>
    );
  } else if (!armed) {
    body = (
      <div className="panel" data-testid="plugin-view-starting">
        <h2 className="panel-title">
          <Spinner small label="" /> Starting {plugin.name}…
        </h2>
        <p className="muted">Its view appears as soon as it runs.</p>
      </div>
    );
  }

  return (
    <div className="page plugin-view-page">
      {header}
      {body}
      {armed && state === 'backoff' ? (
        <div className="notice notice-warning" role="status">
          {plugin?.name} crashed and is being restarted; its view may not respond for a moment.
        </div>
      ) : null}
      {armed && phase.kind === 'loading' ? (
        <div className="page-loading">
          <Spinner label="Loading the plugin’s view…" />
        </div>
      ) : null}
      {armed && phase.kind === 'error' ? (
        <div className="panel panel-error" role="alert" data-testid="plugin-view-error">
          <h2 className="panel-title">{phase.title}</h2>
          <p className="panel-message" data-testid="plugin-view-error-message">
            {phase.message}
          </p>
          <div className="panel-actions">
            <button type="button" className="button button-primary" onClick={() => setAttempt((n) => n + 1)} data-testid="plugin-view-retry">
              Retry
            </button>
            <button type="button" className="button" onClick={() => setShowLogs(true)}>
              View logs
            </button>
            <Link to="/" className="button button-quiet">
              Back to plugins
            </Link>
          </div>
        </div>
      ) : null}
      {/* The plugin owns this element's children; React never renders into it. */}
      <div
        ref={container}
        className="plugin-view-container card"
        data-testid="plugin-view-container"
        hidden={!armed || phase.kind !== 'mounted'}
      />
      {showLogs && plugin ? <LogsViewer pluginId={plugin.id} pluginName={plugin.name} onClose={() => setShowLogs(false)} /> : null}
    </div>
  );
}
