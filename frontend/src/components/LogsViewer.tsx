import { useCallback, useEffect, useId, useRef, useState } from 'react';
import * as api from '../lib/api';
import type { LogEntry, LogLevel, LogPage } from '../lib/api';
import { logTime } from '../lib/format';
import { Dialog } from './Dialog';
import { Spinner } from './Spinner';
import { Switch } from './Switch';

export const PAGE_SIZE = 50;
/** Most entries kept while following. */
const FOLLOW_LIMIT = 1000;

const LEVELS: { value: LogLevel | ''; label: string }[] = [
  { value: '', label: 'All levels' },
  { value: 'info', label: 'Info and above' },
  { value: 'warn', label: 'Warnings and errors' },
  { value: 'error', label: 'Errors only' },
];

type Connection = 'off' | 'connecting' | 'live' | 'retrying';

function entryKey(entry: LogEntry): string {
  return `${entry.timestamp}|${entry.level}|${entry.message}`;
}

function isEntry(value: unknown): value is LogEntry {
  const v = value as Partial<LogEntry> | null;
  return !!v && typeof v.timestamp === 'string' && typeof v.message === 'string' && typeof v.level === 'string';
}

/** A fields object as `key=value` pairs (pid and stream are the common ones). */
function fieldsText(fields: LogEntry['fields']): string {
  if (!fields) return '';
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}

interface Props {
  pluginId: string;
  pluginName: string;
  onClose(): void;
}

/** A plugin's log in a modal: newest first, filter by level, page through older entries, or
 *  follow new ones live (server-sent events). */
export function LogsViewer({ pluginId, pluginName, onClose }: Props) {
  const [level, setLevel] = useState<LogLevel | ''>('');
  const [page, setPage] = useState(0);
  const [data, setData] = useState<LogPage | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [follow, setFollow] = useState(false);
  const [live, setLive] = useState<LogEntry[]>([]);
  const [connection, setConnection] = useState<Connection>('off');
  const [reload, setReload] = useState(0);
  const levelId = useId();
  // The stream and the page may overlap (an entry written while both were being set up):
  // keys of what each holds, so nothing shows twice.
  const pageKeys = useRef(new Set<string>());
  const liveKeys = useRef(new Set<string>());

  // One page, whenever what is asked for changes (while following: page 0 under the live ones).
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    api
      .pluginLogs(pluginId, { page: follow ? 0 : page, pageSize: PAGE_SIZE, level }, controller.signal)
      .then((result) => {
        pageKeys.current = new Set(result.entries.map(entryKey));
        setData(result);
        setError(null);
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        setError(e instanceof Error ? e.message : String(e));
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
  }, [pluginId, level, page, follow, reload]);

  // The live stream.
  useEffect(() => {
    setLive([]);
    liveKeys.current = new Set();
    if (!follow) {
      setConnection('off');
      return;
    }
    if (typeof EventSource === 'undefined') {
      setError('This browser cannot follow logs (no EventSource).');
      setFollow(false);
      return;
    }
    setConnection('connecting');
    const source = new EventSource(api.followLogsUrl(pluginId, level), { withCredentials: true });
    source.onopen = () => setConnection('live');
    source.onmessage = (message: MessageEvent<string>) => {
      let entry: unknown;
      try {
        entry = JSON.parse(message.data);
      } catch {
        return;
      }
      if (!isEntry(entry)) return;
      const key = entryKey(entry);
      if (liveKeys.current.has(key) || pageKeys.current.has(key)) return;
      liveKeys.current.add(key);
      setLive((all) => {
        const next = [entry as LogEntry, ...all].slice(0, FOLLOW_LIMIT);
        // Forget the keys of entries that scrolled out (idempotent, so safe in an updater).
        if (liveKeys.current.size > 2 * FOLLOW_LIMIT) liveKeys.current = new Set(next.map(entryKey));
        return next;
      });
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // The server refused (say, the session expired): let the app find out which.
        setConnection('off');
        setFollow(false);
        setError('The live log stream was closed.');
        api.me().catch(() => undefined);
      } else {
        setConnection('retrying');
      }
    };
    return () => source.close();
  }, [pluginId, level, follow]);

  const onLevel = useCallback((value: string) => {
    setLevel(value as LogLevel | '');
    setPage(0);
  }, []);

  const pageEntries = data?.entries ?? [];
  const entries = follow
    ? [...live, ...pageEntries.filter((e) => !liveKeys.current.has(entryKey(e)))].slice(0, FOLLOW_LIMIT)
    : pageEntries;

  return (
    <Dialog
      wide
      onClose={onClose}
      testId="logs-dialog"
      title={`Logs — ${pluginName}`}
      subtitle={<span className="mono">{pluginId}</span>}
    >
      <div className="logs-toolbar">
        <label className="field-inline" htmlFor={levelId}>
          <span>Level</span>
          <select id={levelId} value={level} onChange={(e) => onLevel(e.target.value)} data-testid="logs-level">
            {LEVELS.map((l) => (
              <option key={l.value} value={l.value}>
                {l.label}
              </option>
            ))}
          </select>
        </label>
        <Switch checked={follow} onChange={setFollow} label="Follow new entries" testId="logs-follow">
          Follow
        </Switch>
        {follow ? (
          <span className={`live-indicator live-${connection}`} data-testid="logs-connection">
            {connection === 'live' ? 'Live' : connection === 'retrying' ? 'Reconnecting…' : 'Connecting…'}
          </span>
        ) : null}
        <span className="toolbar-grow" />
        <button type="button" className="button button-small" onClick={() => setReload((n) => n + 1)} disabled={loading} data-testid="logs-refresh">
          Refresh
        </button>
        <div className="pager" role="group" aria-label="Pages">
          <button
            type="button"
            className="button button-small"
            onClick={() => setPage((p) => Math.max(0, p - 1))}
            disabled={follow || page === 0 || loading}
            data-testid="logs-newer"
          >
            ‹ Newer
          </button>
          <span className="pager-label" aria-live="polite" data-testid="logs-page">
            {follow ? 'Latest' : `Page ${page + 1}`}
          </span>
          <button
            type="button"
            className="button button-small"
            onClick={() => setPage((p) => p + 1)}
            disabled={follow || !data?.has_more || loading}
            data-testid="logs-older"
          >
            Older ›
          </button>
        </div>
      </div>
      {error ? (
        <div className="notice notice-error" role="alert" data-testid="logs-error">
          {error}
        </div>
      ) : null}
      <div className="log-view" aria-busy={loading} data-testid="logs-entries">
        {loading && !data ? (
          <div className="log-empty">
            <Spinner label="Loading logs…" />
          </div>
        ) : entries.length === 0 ? (
          <p className="log-empty muted">
            {follow ? 'No entries yet. New ones appear here as they are written.' : 'No log entries match.'}
          </p>
        ) : (
          <table className="log-table">
            <thead className="visually-hidden">
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Level</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry, i) => (
                <tr key={`${entryKey(entry)}|${i}`} className={`log-row log-${entry.level}`} data-testid="log-entry">
                  <td className="log-time" title={entry.timestamp}>
                    {logTime(entry.timestamp)}
                  </td>
                  <td className="log-level">
                    <span className={`level level-${entry.level}`}>{entry.level}</span>
                  </td>
                  <td className="log-message">
                    <span className="log-text">{entry.message}</span>
                    {entry.fields && Object.keys(entry.fields).length > 0 ? (
                      <span className="log-fields">{fieldsText(entry.fields)}</span>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </Dialog>
  );
}
