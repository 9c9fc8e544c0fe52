import { useState } from 'react';
import * as api from '../lib/api';
import type { PluginDetails } from '../lib/api';
import { iconText } from '../lib/format';
import { displayState, usePlugins } from '../lib/plugins';
import { usePolling } from '../lib/polling';
import { Link } from '../lib/router';
import { Dialog } from './Dialog';
import { EventList } from './EventList';
import { LicenseSection } from './LicenseSection';
import { Spinner } from './Spinner';
import { HealthDot, StateBadge } from './Status';
import { Switch } from './Switch';
import { VersionSection } from './VersionSection';
import { READ_ONLY_REASON, useReadOnly } from '../lib/role';

interface Props {
  pluginId: string;
  onClose(): void;
  onOpenLogs(): void;
}

/** A drawer with everything the daemon knows about one plugin, refreshed while open. */
export function PluginDetailsPanel({ pluginId, onClose, onOpenLogs }: Props) {
  const { plugins, pending, setEnabled, restart, refresh } = usePlugins();
  const readOnly = useReadOnly();
  const [details, setDetails] = useState<PluginDetails | null>(null);
  const [error, setError] = useState<api.ApiError | null>(null);

  usePolling(
    async (signal) => {
      try {
        setDetails(await api.getPlugin(pluginId, signal));
        setError(null);
      } catch (e) {
        if (e instanceof api.ApiError) setError(e);
      }
    },
    2000,
    [pluginId],
  );

  // The shared list is polled too: its status is what the cards show, so it wins over the
  // details' copy; the details add the unit name and events.
  const listed = plugins?.find((p) => p.id === pluginId);
  const plugin = listed ? { ...details, ...listed } : details;
  const title = plugin ? plugin.name : pluginId;

  return (
    <Dialog
      variant="drawer"
      onClose={onClose}
      testId="plugin-details-panel"
      title={
        <span className="dialog-title-with-icon">
          {plugin ? (
            <span className="plugin-icon plugin-icon-small" aria-hidden="true">
              {iconText(plugin.icon)}
            </span>
          ) : null}
          {title}
        </span>
      }
      subtitle={plugin ? `${plugin.id} · v${plugin.version}` : undefined}
    >
      {error && !details ? (
        <div className="notice notice-error" role="alert">
          {error.message}
        </div>
      ) : null}
      {!plugin ? (
        <Spinner />
      ) : (
        <>
          <div className="details-status">
            <HealthDot plugin={plugin} />
            <StateBadge state={displayState(plugin)} />
            <span className="details-grow" />
            <Switch
              checked={pending[plugin.id] ?? plugin.status.enabled}
              busy={pending[plugin.id] !== undefined}
              onChange={(on) => void setEnabled(plugin.id, on)}
              disabled={readOnly}
              label={`Enable ${plugin.name}`}
              testId="details-toggle"
            >
              Enabled
            </Switch>
          </div>
          {plugin.description ? <p className="details-description">{plugin.description}</p> : null}
          <div className="details-buttons">
            <button type="button" className="button" onClick={onOpenLogs} data-testid="details-logs">
              View logs
            </button>
            {plugin.status.enabled ? (
              <>
                <button
                  type="button"
                  className="button"
                  onClick={() => void restart(plugin.id)}
                  disabled={pending[plugin.id] !== undefined || readOnly}
                  aria-label={`Restart ${plugin.name}`}
                  title={readOnly ? READ_ONLY_REASON : 'Stop the plugin and start it again'}
                  data-testid="details-restart"
                >
                  Restart
                </button>
                <Link to={`/plugins/${encodeURIComponent(plugin.id)}`} className="button button-primary" onClick={onClose}>
                  Open view
                </Link>
              </>
            ) : null}
          </div>
          {plugin.status.last_error ? (
            <section className="details-section">
              <h3 className="section-title">Last error</h3>
              <pre className="last-error" data-testid="details-last-error">
                {plugin.status.last_error}
              </pre>
            </section>
          ) : null}
          <LicenseSection
            plugin={plugin}
            onChanged={(updated) => {
              setDetails((d) => (d ? { ...d, ...updated } : d));
              void refresh();
            }}
          />
          <VersionSection
            plugin={plugin}
            onRolledBack={(updated) => {
              setDetails((d) => (d ? { ...d, ...updated } : d));
              void refresh();
            }}
            onUninstalled={() => {
              void refresh();
              onClose();
            }}
          />
          <section className="details-section">
            <h3 className="section-title">Runtime</h3>
            <dl className="facts">
              <dt>Unit</dt>
              <dd className="mono">{plugin.status.unit ?? details?.unit_name ?? '—'}</dd>
              <dt>PID</dt>
              <dd className="mono" data-testid="details-pid">
                {plugin.status.pid ?? '—'}
              </dd>
              <dt>Restarts</dt>
              <dd>{plugin.status.restarts}</dd>
              <dt>Failures in a row</dt>
              <dd>{plugin.status.consecutive_failures}</dd>
            </dl>
          </section>
          <section className="details-section">
            <h3 className="section-title">Plugin</h3>
            <dl className="facts">
              <dt>ID</dt>
              <dd className="mono">{plugin.id}</dd>
              <dt>Version</dt>
              <dd>{plugin.version}</dd>
              <dt>Author</dt>
              <dd>{plugin.author || '—'}</dd>
              <dt>Route</dt>
              <dd className="mono">{plugin.route}</dd>
              <dt>Protocol</dt>
              <dd>v{plugin.protocol_version}</dd>
              <dt>Binary</dt>
              <dd className="mono wrap">{plugin.binary}</dd>
            </dl>
          </section>
          <section className="details-section">
            <h3 className="section-title">Recent events</h3>
            {details ? (
              <EventList events={details.events} empty="No events yet." testId="details-events" />
            ) : (
              <Spinner />
            )}
          </section>
        </>
      )}
    </Dialog>
  );
}
