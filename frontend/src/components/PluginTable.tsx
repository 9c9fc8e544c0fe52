import { useState } from 'react';
import type { Plugin } from '../lib/api';
import { iconText } from '../lib/format';
import { sorted, type Sort, type SortKey } from '../lib/pluginList';
import { displayState } from '../lib/plugins';
import { useReadOnly } from '../lib/role';
import { Link } from '../lib/router';
import { HealthDot, StateBadge } from './Status';
import { Switch } from './Switch';

interface PluginTableProps {
  plugins: Plugin[];
  /** Plugin id → the `enabled` a toggle (or restart) in flight is switching to. */
  pending: Readonly<Record<string, boolean>>;
  onToggle(id: string, enabled: boolean): void;
  onOpenDetails(id: string): void;
  onOpenLogs(id: string): void;
}

const SORT_LABEL: Record<SortKey, string> = { name: 'Name', state: 'State' };

/** A column heading that sorts the table: the first click ascending, the next descending. */
function SortHeader({ column, sort, onSort }: { column: SortKey; sort: Sort; onSort(sort: Sort): void }) {
  const active = sort.key === column;
  return (
    <th scope="col" aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : undefined}>
      <button
        type="button"
        className="sort-button"
        onClick={() => onSort({ key: column, descending: active && !sort.descending })}
        data-testid={`plugin-table-sort-${column}`}
      >
        {SORT_LABEL[column]}
        <span className="sort-arrow" aria-hidden="true">
          {active ? (sort.descending ? '▼' : '▲') : '↕'}
        </span>
      </button>
    </th>
  );
}

/** The plugins as a dense table, one row each, for servers with many of them: the same switch,
 *  state and actions as the cards, without the description and permissions (the details panel
 *  has them). */
export function PluginTable({ plugins, pending, onToggle, onOpenDetails, onOpenLogs }: PluginTableProps) {
  const [sort, setSort] = useState<Sort>({ key: 'name', descending: false });
  const readOnly = useReadOnly();
  return (
    <div className="table-scroll">
      <table className="plugin-table" data-testid="plugin-table">
        <caption className="visually-hidden">Installed plugins</caption>
        <thead>
          <tr>
            <SortHeader column="name" sort={sort} onSort={setSort} />
            <th scope="col">Version</th>
            <SortHeader column="state" sort={sort} onSort={setSort} />
            <th scope="col">Restarts</th>
            <th scope="col">Enabled</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {sorted(plugins, sort).map((plugin) => {
            const busy = pending[plugin.id] !== undefined;
            return (
              <tr key={plugin.id} data-testid={`plugin-row-${plugin.id}`}>
                <th scope="row" className="plugin-table-name">
                  <span className="plugin-table-plugin">
                    <span className="plugin-table-icon" aria-hidden="true">
                      {iconText(plugin.icon)}
                    </span>
                    <span className="plugin-table-titles">
                      <button
                        type="button"
                        className="title-button"
                        onClick={() => onOpenDetails(plugin.id)}
                        aria-haspopup="dialog"
                        data-testid={`plugin-details-${plugin.id}`}
                      >
                        {plugin.name}
                      </button>
                      <span className="plugin-table-id mono">{plugin.id}</span>
                    </span>
                  </span>
                </th>
                <td>{plugin.version}</td>
                <td>
                  <span className="plugin-table-state">
                    <HealthDot plugin={plugin} testId={`plugin-health-${plugin.id}`} />
                    <StateBadge state={displayState(plugin)} testId={`plugin-state-${plugin.id}`} />
                  </span>
                </td>
                <td data-testid={`plugin-restarts-${plugin.id}`}>{plugin.status.restarts}</td>
                <td>
                  <Switch
                    checked={busy ? pending[plugin.id]! : plugin.status.enabled}
                    busy={busy}
                    onChange={(on) => onToggle(plugin.id, on)}
                    disabled={readOnly}
                    label={`Enable ${plugin.name}`}
                    testId={`plugin-toggle-${plugin.id}`}
                  />
                </td>
                <td className="plugin-table-actions">
                  <button
                    type="button"
                    className="button button-small"
                    onClick={() => onOpenLogs(plugin.id)}
                    aria-haspopup="dialog"
                    aria-label={`Logs of ${plugin.name}`}
                    data-testid={`plugin-logs-${plugin.id}`}
                  >
                    Logs
                  </button>
                  {plugin.status.enabled ? (
                    <Link
                      to={`/plugins/${encodeURIComponent(plugin.id)}`}
                      className="button button-small button-primary"
                      aria-label={`Open ${plugin.name}`}
                      data-testid={`plugin-open-${plugin.id}`}
                    >
                      Open
                    </Link>
                  ) : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
