// The details panel's Versions section: the installed version and the one kept by the last
// upgrade, with "Roll back" (`POST /api/plugins/:id/rollback`) and "Uninstall"
// (`DELETE /api/plugins/:id`, after a confirmation that offers to delete the plugin's data).

import { useState } from 'react';
import * as api from '../lib/api';
import type { Plugin } from '../lib/api';
import { READ_ONLY_REASON, useReadOnly } from '../lib/role';
import { Dialog } from './Dialog';

interface Props {
  plugin: Plugin;
  /** After a rollback, with the daemon's answer. */
  onRolledBack(plugin: Plugin): void;
  /** After the plugin was uninstalled: the panel has nothing left to show. */
  onUninstalled(): void;
}

export function VersionSection({ plugin, onRolledBack, onUninstalled }: Props) {
  const readOnly = useReadOnly();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [purge, setPurge] = useState(false);
  const previous = plugin.previous_version ?? null; // absent from an older daemon

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="details-section" data-testid="details-versions">
      <h3 className="section-title">Versions</h3>
      <dl className="facts">
        <dt>Installed</dt>
        <dd>{plugin.version}</dd>
        <dt>Previous</dt>
        <dd data-testid="details-previous-version">{previous ?? '—'}</dd>
      </dl>
      {error ? (
        <div className="notice notice-error" role="alert" data-testid="details-versions-error">
          {error}
        </div>
      ) : null}
      <div className="details-buttons">
        <button
          type="button"
          className="button"
          disabled={readOnly || busy || previous === null}
          title={readOnly ? READ_ONLY_REASON : previous === null ? 'No previous version is kept' : `Go back to ${previous}`}
          onClick={() => void run(async () => onRolledBack(await api.rollbackPlugin(plugin.id)))}
          data-testid="details-rollback"
        >
          Roll back{previous ? ` to ${previous}` : ''}
        </button>
        <button
          type="button"
          className="button button-danger"
          disabled={readOnly || busy}
          title={readOnly ? READ_ONLY_REASON : 'Stop the plugin and remove it'}
          onClick={() => setConfirming(true)}
          data-testid="details-uninstall"
        >
          Uninstall
        </button>
      </div>
      {confirming ? (
        <Dialog title={`Uninstall ${plugin.name}?`} onClose={() => setConfirming(false)} testId="uninstall-dialog">
          <div className="confirm">
            <p>
              The plugin is stopped and its executable removed. Its data, settings and licence key stay, so installing it
              again gets them back, unless you delete them too.
            </p>
            <label className="checkbox">
              <input type="checkbox" checked={purge} onChange={(e) => setPurge(e.target.checked)} data-testid="uninstall-purge" />{' '}
              Also delete its data, settings and licence key
            </label>
            <div className="details-buttons confirm-buttons">
              <button type="button" className="button" onClick={() => setConfirming(false)} data-testid="uninstall-cancel">
                Cancel
              </button>
              <button
                type="button"
                className="button button-danger"
                onClick={() => {
                  setConfirming(false);
                  void run(async () => {
                    await api.uninstallPlugin(plugin.id, purge);
                    onUninstalled();
                  });
                }}
                data-testid="uninstall-confirm"
              >
                Uninstall
              </button>
            </div>
          </div>
        </Dialog>
      ) : null}
    </section>
  );
}
