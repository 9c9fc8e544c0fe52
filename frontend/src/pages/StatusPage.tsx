import { useCallback, useEffect, useId, useState } from 'react';
import { EventList } from '../components/EventList';
import { Spinner } from '../components/Spinner';
import * as api from '../lib/api';
import type { EventKind, Plugin, PluginEvent, Status } from '../lib/api';
import { EVENT_LABEL } from '../lib/format';
import { usePlugins } from '../lib/plugins';
import { usePolling } from '../lib/polling';
import { Link } from '../lib/router';

const EVENT_LIMIT = 25;
/** How long the "changed by" field waits after the last keystroke before asking the daemon. */
const ACTOR_TYPING_MS = 400;

/** The event list's filters, each asked of the daemon (`GET /api/events?plugin&kind&actor`);
 *  '' is "all". */
interface EventFilter {
  plugin: string;
  kind: EventKind | '';
  /** Who made the change (the audit trail): a user name, or `uid N` for a local caller. */
  actor: string;
}

/** The plugin and kind selects and the "changed by" field above the event list. */
function EventFilters({ filter, plugins, onChange }: { filter: EventFilter; plugins: Plugin[] | null; onChange(filter: EventFilter): void }) {
  const pluginId = useId();
  const kindId = useId();
  const actorId = useId();
  const [actor, setActor] = useState(filter.actor);
  useEffect(() => {
    const wanted = actor.trim();
    if (wanted === filter.actor) return;
    const timer = setTimeout(() => onChange({ ...filter, actor: wanted }), ACTOR_TYPING_MS);
    return () => clearTimeout(timer);
  }, [actor, filter, onChange]);
  return (
    <div className="event-filters" data-testid="event-filters">
      <label className="field-inline" htmlFor={pluginId}>
        <span>Plugin</span>
        <select id={pluginId} value={filter.plugin} onChange={(e) => onChange({ ...filter, plugin: e.target.value })} data-testid="events-plugin">
          <option value="">All plugins</option>
          {(plugins ?? []).map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </label>
      <label className="field-inline" htmlFor={kindId}>
        <span>Kind</span>
        <select
          id={kindId}
          value={filter.kind}
          onChange={(e) => onChange({ ...filter, kind: e.target.value as EventKind | '' })}
          data-testid="events-kind"
        >
          <option value="">All kinds</option>
          {(Object.entries(EVENT_LABEL) as [EventKind, string][]).map(([kind, label]) => (
            <option key={kind} value={kind}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label className="field-inline" htmlFor={actorId}>
        <span>Changed by</span>
        <input
          id={actorId}
          type="search"
          value={actor}
          placeholder="anyone"
          onChange={(e) => setActor(e.target.value)}
          title="A user name, or uid N for a local caller: the changes they made"
          data-testid="events-actor"
        />
      </label>
    </div>
  );
}

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
  const [filter, setFilter] = useState<EventFilter>({ plugin: '', kind: '', actor: '' });

  useEffect(() => {
    document.title = 'Overview · Toru';
  }, []);

  usePolling(
    async (signal) => {
      try {
        const query = {
          limit: EVENT_LIMIT,
          ...(filter.plugin ? { plugin: filter.plugin } : {}),
          ...(filter.kind ? { kind: filter.kind } : {}),
          ...(filter.actor ? { actor: filter.actor } : {}),
        };
        const [s, e] = await Promise.all([api.status(signal), api.events(query, signal)]);
        setStatus(s);
        setEvents(e);
        setError(null);
      } catch (e) {
        if (e instanceof api.ApiError) setError(e.message);
      }
    },
    5000,
    [filter.plugin, filter.kind, filter.actor],
  );

  const changeFilter = useCallback((next: EventFilter) => {
    setEvents(null); // the spinner, not the old list, until the new one is in
    setFilter(next);
  }, []);

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
              <EventFilters filter={filter} plugins={plugins} onChange={changeFilter} />
            </div>
            {events ? (
              <EventList
                events={events}
                empty={filter.plugin || filter.kind || filter.actor ? 'No events match.' : 'Nothing has happened yet.'}
                showPlugin={!filter.plugin}
                pluginName={nameOf}
                collapseCrashLoops
                testId="overview-events"
              />
            ) : (
              <Spinner />
            )}
          </section>
        </div>
      )}
    </div>
  );
}
