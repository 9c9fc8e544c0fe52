import { useEffect, useState } from 'react';
import { LogsViewer } from '../components/LogsViewer';
import { PluginCard } from '../components/PluginCard';
import { PluginDetailsPanel } from '../components/PluginDetailsPanel';
import { Spinner } from '../components/Spinner';
import { usePlugins } from '../lib/plugins';

type Panel = { kind: 'details' | 'logs'; id: string } | null;

export function PluginsPage() {
  const { plugins, error, pending, setEnabled, restart } = usePlugins();
  const [panel, setPanel] = useState<Panel>(null);

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
      </header>

      {error ? (
        <div className="notice notice-error" role="alert" data-testid="plugins-error">
          Could not load the plugins: {error.message}
        </div>
      ) : null}

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
            Put a plugin’s <code>*.binary</code> file in the daemon’s plugins directory (by default{' '}
            <code>/var/lib/toru/plugins</code>) and restart the daemon: plugins are discovered when it starts.
          </p>
        </div>
      ) : (
        <div className="card-grid" data-testid="plugin-list">
          {plugins.map((plugin) => (
            <PluginCard
              key={plugin.id}
              plugin={plugin}
              pending={pending[plugin.id]}
              onToggle={(on) => void setEnabled(plugin.id, on)}
              onRestart={() => void restart(plugin.id)}
              onOpenDetails={() => setPanel({ kind: 'details', id: plugin.id })}
              onOpenLogs={() => setPanel({ kind: 'logs', id: plugin.id })}
            />
          ))}
        </div>
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
