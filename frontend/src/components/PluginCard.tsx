import type { MouseEvent } from 'react';
import type { Backend, Plugin } from '../lib/api';
import { iconText } from '../lib/format';
import { displayState } from '../lib/plugins';
import { READ_ONLY_REASON, useReadOnly } from '../lib/role';
import { Link } from '../lib/router';
import { LicenseBadge, showsLicense } from './LicenseBadge';
import { PluginPermissions } from './PluginPermissions';
import { SignatureBadge } from './SignatureBadge';
import { HealthDot, StateBadge } from './Status';
import { Switch } from './Switch';

interface PluginCardProps {
  plugin: Plugin;
  /** The `enabled` value a toggle (or restart) in flight is switching to, if any. */
  pending?: boolean;
  /** Which backend runs the plugins, once known: under `embedded` nothing is sandboxed. */
  backend?: Backend | null;
  onToggle(enabled: boolean): void;
  onRestart(): void;
  onOpenDetails(): void;
  onOpenLogs(): void;
}

/** Whether a click landed on one of the card's own controls (which do their own thing). */
function fromControl(event: MouseEvent): boolean {
  return (event.target as HTMLElement).closest('button, a, input, select, label') !== null;
}

export function PluginCard({ plugin, pending, backend, onToggle, onRestart, onOpenDetails, onOpenLogs }: PluginCardProps) {
  const state = displayState(plugin);
  const busy = pending !== undefined;
  const checked = busy ? pending : plugin.status.enabled;
  const { restarts } = plugin.status;
  const readOnly = useReadOnly();
  return (
    <article
      className={`card plugin-card plugin-card-${state}`}
      data-testid={`plugin-card-${plugin.id}`}
      aria-labelledby={`plugin-card-title-${plugin.id}`}
      onClick={(event) => {
        if (!fromControl(event)) onOpenDetails();
      }}
    >
      <div className="plugin-card-head">
        <span className="plugin-icon" aria-hidden="true">
          {iconText(plugin.icon)}
        </span>
        <div className="plugin-card-titles">
          <h2 className="plugin-card-title" id={`plugin-card-title-${plugin.id}`}>
            <button
              type="button"
              className="title-button"
              onClick={onOpenDetails}
              aria-haspopup="dialog"
              data-testid={`plugin-details-${plugin.id}`}
            >
              {plugin.name}
            </button>
          </h2>
          <p className="plugin-card-meta">
            <span>v{plugin.version}</span>
            {plugin.author ? (
              <>
                <span aria-hidden="true"> · </span>
                <span>{plugin.author}</span>
              </>
            ) : null}
          </p>
        </div>
        <Switch
          checked={checked}
          busy={busy}
          onChange={onToggle}
          disabled={readOnly}
          label={`Enable ${plugin.name}`}
          testId={`plugin-toggle-${plugin.id}`}
        />
      </div>
      <p className="plugin-card-description">{plugin.description || 'No description.'}</p>
      <PluginPermissions pluginId={plugin.id} permissions={plugin.permissions} backend={backend} />
      <SignatureBadge signature={plugin.signature} testId={`plugin-signature-${plugin.id}`} />
      {plugin.status.last_error && (state === 'failed' || state === 'backoff') ? (
        <p className="plugin-card-error" title={plugin.status.last_error}>
          {plugin.status.last_error}
        </p>
      ) : null}
      {showsLicense(plugin) ? <LicenseBadge license={plugin.license} testId={`plugin-license-${plugin.id}`} explainRefusal /> : null}
      <div className="plugin-card-foot">
        <div className="plugin-card-status">
          <HealthDot plugin={plugin} testId={`plugin-health-${plugin.id}`} />
          <StateBadge state={state} testId={`plugin-state-${plugin.id}`} />
          <span
            className={`restarts${restarts > 0 ? ' restarts-some' : ''}`}
            title="Restarts after failures since it was last enabled"
            data-testid={`plugin-restarts-${plugin.id}`}
          >
            {restarts} {restarts === 1 ? 'restart' : 'restarts'}
          </span>
        </div>
        <div className="plugin-card-actions">
          <button
            type="button"
            className="button button-small"
            onClick={onOpenLogs}
            aria-haspopup="dialog"
            data-testid={`plugin-logs-${plugin.id}`}
          >
            Logs
          </button>
          {plugin.status.enabled ? (
            <>
              <button
                type="button"
                className="button button-small"
                onClick={onRestart}
                disabled={busy || readOnly}
                aria-label={`Restart ${plugin.name}`}
                title={readOnly ? READ_ONLY_REASON : 'Stop the plugin and start it again'}
                data-testid={`plugin-restart-${plugin.id}`}
              >
                Restart
              </button>
              <Link to={`/plugins/${encodeURIComponent(plugin.id)}`} className="button button-small button-primary" data-testid={`plugin-open-${plugin.id}`}>
                Open
              </Link>
            </>
          ) : null}
        </div>
      </div>
    </article>
  );
}
