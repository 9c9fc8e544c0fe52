// A plugin's own view, isolated like Cockpit's: its module runs in a sandboxed iframe with an
// opaque origin (`src/view/`), which reaches the plugin's own routes through the dashboard and
// nothing else. This page fetches the module, hands it to a fresh frame, and shows whatever goes
// wrong (no bundle, a bundle that does not load, a mount() that throws, a plugin that is not
// running) as a panel that says so, never a blank page.

import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { LogsViewer } from '../components/LogsViewer';
import { SignatureBadge } from '../components/SignatureBadge';
import { SettingsSection } from '../components/SettingsSection';
import { Spinner } from '../components/Spinner';
import { HealthDot, StateBadge } from '../components/Status';
import * as api from '../lib/api';
import { iconText } from '../lib/format';
import { displayState, usePlugins } from '../lib/plugins';
import { Link, navigate, useLocation } from '../lib/router';
import { useToast } from '../lib/toast';
import { connectFrame, viewPath, type ViewHost } from '../view/host';
import { VIEW_FRAME_PATH, VIEW_FRAME_SANDBOX } from '../view/protocol';

type Phase =
  | { kind: 'idle' }
  | { kind: 'loading' }
  /** The module is here and its frame is starting it. */
  | { kind: 'starting'; bundle: string }
  | { kind: 'mounted'; bundle: string }
  | { kind: 'error'; title: string; message: string };

/** The view modules this page has fetched, by plugin, until a load or mount fails or Retry is
 *  pressed: opening a view again starts from memory, as an imported module did. */
const bundles = new Map<string, { version: string; text: string }>();

const LOAD_FAILED = 'The plugin’s view could not be loaded';
const MOUNT_FAILED = 'The plugin’s view failed to start';

/**
 * `active` is false while the user is on another page: the dashboard keeps the pages of the
 * views visited last (App.tsx), hidden, so that coming back mounts the view again in the frame
 * it already has instead of starting a new one (as Cockpit keeps its frames).
 */
export function PluginViewPage({ pluginId, active = true }: { pluginId: string; active?: boolean }) {
  const { plugins, pending, setEnabled, restart } = usePlugins();
  const toast = useToast();
  const { pathname } = useLocation();
  const plugin = plugins?.find((p) => p.id === pluginId);
  const host = useRef<ViewHost | null>(null);
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' });
  const [attempt, setAttempt] = useState(0);
  const [armed, setArmed] = useState(false);
  const [showLogs, setShowLogs] = useState(false);
  /** The frame element whose document has loaded; a new frame starts unloaded. */
  const [loadedFrame, setLoadedFrame] = useState<HTMLIFrameElement | null>(null);

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
    if (active) document.title = `${plugin?.name ?? pluginId} · Toru`;
  }, [active, plugin?.name, pluginId]);

  const activeNow = useRef(active);
  activeNow.current = active;
  const nameNow = useRef(pluginId);
  nameNow.current = plugin?.name ?? pluginId;

  // Fetch the module (or take the copy this page already has for this version); a new attempt
  // or version gets a new fetch and, below, a new frame.
  useEffect(() => {
    if (!armed || version === undefined) {
      setPhase({ kind: 'idle' });
      return;
    }
    const cached = bundles.get(pluginId);
    if (cached?.version === version) {
      setPhase({ kind: 'starting', bundle: cached.text });
      return;
    }
    let cancelled = false;
    setPhase({ kind: 'loading' });
    api.viewBundle(pluginId, version).then(
      (text) => {
        bundles.set(pluginId, { version, text });
        if (!cancelled) setPhase({ kind: 'starting', bundle: text });
      },
      (error: unknown) => {
        const message =
          error instanceof api.ApiError && error.status ? `${error.message} (HTTP ${error.status})` : String((error as Error)?.message ?? error);
        if (!cancelled) setPhase({ kind: 'error', title: LOAD_FAILED, message });
      },
    );
    return () => {
      cancelled = true;
    };
  }, [armed, pluginId, attempt, version]);

  const bundle = phase.kind === 'starting' || phase.kind === 'mounted' ? phase.bundle : null;

  // Once both the frame's document and the module are here, give the frame its view (once: a
  // view that navigates its own frame away gets nothing more). The bridge lives as long as the
  // frame.
  useEffect(() => {
    const element = loadedFrame;
    // A frame replaced since it loaded (Retry, a new version) waits for its successor's load.
    if (!element?.isConnected || bundle === null) return;
    const bridge = connectFrame(
      element,
      { pluginId, bundle, path: viewPath(pluginId, window.location.pathname) },
      {
        fetch: api.viewFetch,
        navigate: (address) => navigate(address),
        // Named, so that a view cannot pass its words off as the dashboard's.
        toast: (message, kind) => toast(`${nameNow.current}: ${message}`, kind),
        resize: (height) => {
          element.style.height = `${height}px`;
        },
        settled: (outcome) => {
          if (outcome.ok) {
            setPhase({ kind: 'mounted', bundle });
            return;
          }
          bundles.delete(pluginId);
          setPhase({ kind: 'error', title: outcome.stage === 'mount' ? MOUNT_FAILED : LOAD_FAILED, message: outcome.message });
        },
      },
    );
    host.current = bridge;
    if (!activeNow.current) bridge.hide();
    return () => {
      bridge.close();
      host.current = null;
    };
    // `bundle` is the same text from `starting` to `mounted`: no reconnect when the view mounts.
  }, [loadedFrame, bundle, pluginId, toast]);

  const retry = useCallback(() => {
    bundles.delete(pluginId);
    setAttempt((n) => n + 1);
  }, [pluginId]);

  // A view that failed to load or start gets another go when the plugin runs again (a new run:
  // running after another state, or another pid), so that the error panel does not outlive the
  // plugin's trouble; a view that fails while the plugin keeps running waits for Retry.
  const run = state === 'running' ? `${plugin?.status.pid ?? ''}/${plugin?.status.restarts ?? ''}` : null;
  const lastRun = useRef(run);
  const failed = phase.kind === 'error';
  useEffect(() => {
    const before = lastRun.current;
    lastRun.current = run;
    if (failed && run !== null && run !== before) retry();
  }, [run, failed, retry]);

  useEffect(() => {
    if (!active) return;
    host.current?.setPath(viewPath(pluginId, pathname));
  }, [active, pluginId, pathname]);

  useEffect(() => {
    if (active) host.current?.show();
    else host.current?.hide();
  }, [active]);

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
              <SignatureBadge signature={plugin.signature} testId="plugin-view-signature" />
            </p>
          ) : null}
        </div>
      </div>
      {plugin ? (
        <div className="page-actions">
          <button type="button" className="button" onClick={() => setShowLogs(true)} aria-haspopup="dialog" data-testid="plugin-view-logs">
            Logs
          </button>
          {plugin.status.enabled ? (
            <button
              type="button"
              className="button"
              onClick={() => void restart(pluginId)}
              disabled={pending[pluginId] !== undefined}
              aria-label={`Restart ${plugin.name}`}
              title="Stop the plugin and start it again"
              data-testid="plugin-view-restart"
            >
              Restart
            </button>
          ) : null}
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
    <div className="page plugin-view-page" hidden={!active}>
      {header}
      {body}
      {armed && state === 'backoff' ? (
        <div className="notice notice-warning" role="status">
          {plugin?.name} crashed and is being restarted; its view may not respond for a moment.
        </div>
      ) : null}
      {armed && (phase.kind === 'loading' || phase.kind === 'starting') ? (
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
            <button type="button" className="button button-primary" onClick={retry} data-testid="plugin-view-retry">
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
      <div className="plugin-view-container card" data-testid="plugin-view-container" hidden={phase.kind !== 'mounted'}>
        {armed && phase.kind !== 'error' ? (
          <iframe
            key={`${attempt} ${version}`}
            className="plugin-view-frame"
            data-testid="plugin-view-frame"
            title={`${plugin?.name ?? pluginId}’s view`}
            sandbox={VIEW_FRAME_SANDBOX}
            src={VIEW_FRAME_PATH}
            onLoad={(event) => setLoadedFrame(event.currentTarget)}
          />
        ) : null}
      </div>
      {plugin ? <SettingsSection pluginId={plugin.id} pluginName={plugin.name} /> : null}
      {showLogs && plugin ? <LogsViewer pluginId={plugin.id} pluginName={plugin.name} onClose={() => setShowLogs(false)} /> : null}
    </div>
  );
}
