import { useEffect, useState } from 'react';
import { EventList } from '../components/EventList';
import { Spinner } from '../components/Spinner';
import * as api from '../lib/api';
import type { PluginEvent, Status } from '../lib/api';
import { usePlugins } from '../lib/plugins';
import { usePolling } from '../lib/polling';
import { Link } from '../lib/router';

const EVENT_LIMIT = 25;

interface StatProps {
  label: string;
  value: number;
  tone?: 'good' | 'bad';
  testId: string;
  /** Where the tile leads, e.g. to the plugins it counts. */
  to?: string;
  title?: string;
}

function Stat({ label, value, tone, testId, to, title }: StatProps) {
  const className = `stat${tone && value > 0 ? ` stat-${tone}` : ''}${to ? ' stat-link' : ''}`;
  const content = (
    <>
      <span className="stat-value">{value}</span>
      <span className="stat-label">{label}</span>
    </>
  );
  return to ? (
    <Link to={to} className={className} data-testid={testId} title={title}>
      {content}
    </Link>
  ) : (
    <div className={className} data-testid={testId}>
      {content}
    </div>
  );
}

/** The daemon at a glance: version, backend, plugin counts and recent events. */
export function StatusPage() {
  const { plugins } = usePlugins();
  const [status, setStatus] = useState<Status | null>(null);
  const [events, setEvents] = useState<PluginEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    document.title = 'Overview · Toru';
  }, []);

  usePolling(
    async (signal) => {
      try {
        const [s, e] = await Promise.all([api.status(signal), api.events({ limit: EVENT_LIMIT }, signal)]);
        setStatus(s);
        setEvents(e);
        setError(null);
      } catch (e) {
        if (e instanceof api.ApiError) setError(e.message);
      }
    },
    5000,
    [],
  );

  const nameOf = (id: string) => plugins?.find((p) => p.id === id)?.name ?? id;

  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1 className="page-title">Overview</h1>
          <p className="page-subtitle">This Toru daemon and what it runs</p>
        </div>
      </header>
      {error ? (
        <div className="notice notice-error" role="alert">
          Could not load the status: {error}
        </div>
      ) : null}
      {!status ? (
        error ? null : (
          <div className="page-loading">
            <Spinner />
          </div>
        )
      ) : (
        <div className="overview">
          <section className="card overview-counts" aria-labelledby="counts-title">
            <div className="card-header">
              <h2 className="card-title" id="counts-title">
                Plugins
              </h2>
              <Link to="/" className="card-link">
                Manage plugins
              </Link>
            </div>
            <div className="stats">
              <Stat label="Installed" value={status.plugins.total} testId="stat-total" />
              <Stat label="Enabled" value={status.plugins.enabled} testId="stat-enabled" />
              <Stat label="Running" value={status.plugins.running} tone="good" testId="stat-running" />
              <Stat
                label="Failed"
                value={status.plugins.failed}
                tone="bad"
                testId="stat-failed"
                to="/plugins?state=failed"
                title="Show the failed plugins"
              />
            </div>
          </section>
          <section className="card overview-daemon" aria-labelledby="daemon-title">
            <div className="card-header">
              <h2 className="card-title" id="daemon-title">
                Daemon
              </h2>
            </div>
            <dl className="facts">
              <dt>Version</dt>
              <dd data-testid="status-version">{status.version}</dd>
              <dt>Supervisor</dt>
              <dd>{status.backend === 'systemd' ? 'systemd (transient units)' : 'embedded (child processes)'}</dd>
              <dt>Instance</dt>
              <dd className="mono wrap">{status.instance_id}</dd>
              <dt>Signed in as</dt>
              <dd>{status.user}</dd>
            </dl>
          </section>
          <section className="card overview-events" aria-labelledby="events-title">
            <div className="card-header">
              <h2 className="card-title" id="events-title">
                Recent events
              </h2>
            </div>
            {events ? (
              <EventList events={events} empty="Nothing has happened yet." showPlugin pluginName={nameOf} testId="overview-events" />
            ) : (
              <Spinner />
            )}
          </section>
        </div>
      )}
    </div>
  );
}
