import { useEffect, useId, useState } from 'react';
import { InstallPlugin } from '../components/InstallPlugin';
import { LogsViewer } from '../components/LogsViewer';
import { PluginCard } from '../components/PluginCard';
import { PluginDetailsPanel } from '../components/PluginDetailsPanel';
import { PluginTable } from '../components/PluginTable';
import { SkippedBinaries } from '../components/SkippedBinaries';
import { Spinner } from '../components/Spinner';
import * as api from '../lib/api';
import { ApiError, type Backend, type DiscoveryFailure, type PluginState } from '../lib/api';
import { STATE_LABEL } from '../lib/format';
import { inState, matching, stateParam } from '../lib/pluginList';
import { usePlugins } from '../lib/plugins';
import { Link, navigate, useLocation } from '../lib/router';
import { READ_ONLY_REASON, useReadOnly } from '../lib/role';
import { rescanSummary, useSkippedBinaries } from '../lib/skipped';
import { useToast } from '../lib/toast';

type Panel = { kind: 'details' | 'logs'; id: string } | null;

/** Which backend runs the plugins (it does not change while the daemon runs); null until known,
 *  or if `GET /api/status` fails, when the cards say nothing about it. */
function useBackend(): Backend | null {
  const [backend, setBackend] = useState<Backend | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    api.status(controller.signal).then(
      (status) => setBackend(status.backend),
      () => {},
    );
    return () => controller.abort();
  }, []);
  return backend;
}

/** Cards (the default) or a table; the choice is kept in the browser. */
type View = 'cards' | 'table';
const VIEW_KEY = 'toru.plugins.view';

function useView(): [View, (view: View) => void] {
  const [view, setView] = useState<View>(() => {
    try {
      return localStorage.getItem(VIEW_KEY) === 'table' ? 'table' : 'cards';
    } catch {
      return 'cards'; // storage refused (e.g. by privacy settings)
    }
  });
  const choose = (next: View) => {
    setView(next);
    try {
      localStorage.setItem(VIEW_KEY, next);
    } catch {
      // Not remembered, still switched.
    }
  };
  return [view, choose];
}

interface ToolbarProps {
  view: View;
  onView(view: View): void;
  query: string;
  onQuery(query: string): void;
  state: PluginState | null;
}

/** Search, the state filter (kept in the address as `?state=`) and the cards/table switch. */
function Toolbar({ view, onView, query, onQuery, state }: ToolbarProps) {
  const searchId = useId();
  const stateId = useId();
  return (
    <div className="plugins-toolbar" role="search" aria-label="Plugins">
      <label className="field-inline plugins-search" htmlFor={searchId}>
        <span>Search</span>
        <input
          id={searchId}
          type="search"
          value={query}
          onChange={(e) => onQuery(e.target.value)}
          placeholder="Name, id or description"
          data-testid="plugins-search"
        />
      </label>
      <label className="field-inline" htmlFor={stateId}>
        <span>State</span>
        <select
          id={stateId}
          value={state ?? ''}
          onChange={(e) => navigate(e.target.value ? `/plugins?state=${e.target.value}` : '/plugins', { replace: true })}
          data-testid="plugins-state"
        >
          <option value="">All states</option>
          {(Object.entries(STATE_LABEL) as [PluginState, string][]).map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <div className="segmented" role="group" aria-label="Show the plugins as">
        {(['cards', 'table'] as const).map((option) => (
          <button
            key={option}
            type="button"
            className="segmented-option"
            aria-pressed={view === option}
            onClick={() => onView(option)}
            data-testid={`plugins-view-${option}`}
          >
            {option === 'cards' ? 'Cards' : 'Table'}
          </button>
        ))}
      </div>
    </div>
  );
}

export function PluginsPage() {
  const { plugins, error, pending, setEnabled, restart, rescan, refresh } = usePlugins();
  const readOnly = useReadOnly();
  const skipped = useSkippedBinaries();
  const backend = useBackend();
  // `?state=failed` (the overview's Failed tile) shows the plugins in that state only.
  const only = stateParam(useLocation().search.get('state'));
  const inOnly = plugins && inState(plugins, only);
  const [query, setQuery] = useState('');
  const shown = inOnly && matching(inOnly, query);
  const [view, setView] = useView();
  const [panel, setPanel] = useState<Panel>(null);
  const [rescanning, setRescanning] = useState(false);
  const toast = useToast();

  useEffect(() => {
    document.title = 'Plugins · Toru';
  }, []);

  const counts = plugins
    ? {
        total: plugins.length,
        enabled: plugins.filter((p) => p.status.enabled).length,
      }
    : null;
  const nameOf = (id: string) => plugins?.find((p) => p.id === id)?.name ?? id;

  // Looks for new plugins, then reads the skipped files again (the scan refreshed them), and
  // says what changed.
  const onRescan = async () => {
    const before = plugins;
    setRescanning(true);
    try {
      const after = await rescan();
      let failures: DiscoveryFailure[] | null = null;
      try {
        failures = await skipped.reload();
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        toast(`Could not read the skipped files: ${e instanceof Error ? e.message : String(e)}`, 'error');
      }
      const summary = rescanSummary(before, after, failures);
      toast(summary.message, summary.found > 0 ? 'success' : 'info');
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return; // on to the login page
      toast(`Could not rescan the plugins directory: ${e instanceof Error ? e.message : String(e)}`, 'error');
    } finally {
      setRescanning(false);
    }
  };

  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1 className="page-title">Plugins</h1>
          <p className="page-subtitle">
            {counts
              ? `${counts.total} installed · ${counts.enabled} enabled`
              : 'Plugins installed on this server'}
          </p>
        </div>
        <div className="page-actions">
          <button
            type="button"
            className="button"
            onClick={() => void onRescan()}
            disabled={rescanning || readOnly}
            aria-busy={rescanning || undefined}
            aria-label="Rescan plugins directory"
            title={readOnly ? READ_ONLY_REASON : 'Look for plugins installed since the last scan, and check the skipped files again'}
            data-testid="rescan"
          >
            {rescanning ? <span className="spinner spinner-small" aria-hidden="true" /> : null}
            Rescan
          </button>
          <InstallPlugin onInstalled={() => void refresh()} />
        </div>
      </header>

      {error ? (
        <div className="notice notice-error" role="alert" data-testid="plugins-error">
          Could not load the plugins: {error.message}
        </div>
      ) : null}

      {skipped.failures ? <SkippedBinaries failures={skipped.failures} /> : null}

      {plugins === null ? (
        error ? null : (
          <div className="page-loading">
            <Spinner label="Loading plugins…" />
          </div>
        )
      ) : plugins.length === 0 ? (
        <div className="empty-state card">
          <h2>No plugins installed</h2>
          <p>
            Upload a plugin’s <code>*.binary</code> file with Install plugin, or put it in the daemon’s plugins directory
            (by default <code>/var/lib/toru/plugins</code>), then click Rescan.
          </p>
        </div>
      ) : (
        <>
          <Toolbar view={view} onView={setView} query={query} onQuery={setQuery} state={only} />
          {only ? (
            <div className="notice notice-info plugins-filter" role="status" data-testid="plugins-filter">
              <span>
                {inOnly!.length === 0
                  ? `No ${STATE_LABEL[only].toLowerCase()} plugins.`
                  : `Showing ${STATE_LABEL[only].toLowerCase()} plugins only: ${inOnly!.length} of ${plugins.length}.`}
              </span>
              <Link to="/plugins" className="button button-small" data-testid="plugins-filter-clear">
                Show all plugins
              </Link>
            </div>
          ) : null}
          {query && shown!.length === 0 ? (
            <p className="muted" role="status" data-testid="plugins-no-match">
              No plugin matches “{query}”.
            </p>
          ) : view === 'table' ? (
            <PluginTable
              plugins={shown!}
              pending={pending}
              onToggle={(id, on) => void setEnabled(id, on)}
              onOpenDetails={(id) => setPanel({ kind: 'details', id })}
              onOpenLogs={(id) => setPanel({ kind: 'logs', id })}
            />
          ) : (
            <div className="card-grid" data-testid="plugin-list">
              {shown!.map((plugin) => (
                <PluginCard
                  key={plugin.id}
                  plugin={plugin}
                  pending={pending[plugin.id]}
                  backend={backend}
                  onToggle={(on) => void setEnabled(plugin.id, on)}
                  onRestart={() => void restart(plugin.id)}
                  onOpenDetails={() => setPanel({ kind: 'details', id: plugin.id })}
                  onOpenLogs={() => setPanel({ kind: 'logs', id: plugin.id })}
                />
              ))}
            </div>
          )}
        </>
      )}

      {panel?.kind === 'details' ? (
        <PluginDetailsPanel
          pluginId={panel.id}
          onClose={() => setPanel(null)}
          onOpenLogs={() => setPanel({ kind: 'logs', id: panel.id })}
        />
      ) : null}
      {panel?.kind === 'logs' ? (
        <LogsViewer pluginId={panel.id} pluginName={nameOf(panel.id)} onClose={() => setPanel(null)} />
      ) : null}
    </div>
  );
}
