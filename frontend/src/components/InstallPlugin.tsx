// The plugins page's "Install plugin" control: a dialog with a file input for the executable
// and an optional one for its signature, sent as `POST /api/plugins`. The daemon checks the
// file as a scan would and answers with the plugin installed or upgraded, or the reason it
// refused it, which the dialog shows. Disabled for viewers.

import { useId, useState, type FormEvent } from 'react';
import * as api from '../lib/api';
import type { InstallResult } from '../lib/api';
import { READ_ONLY_REASON, useReadOnly } from '../lib/role';
import { Dialog } from './Dialog';

interface Props {
  /** After a plugin was installed or upgraded, so the list shows it. */
  onInstalled(result: InstallResult): void;
}

export function InstallPlugin({ onInstalled }: Props) {
  const readOnly = useReadOnly();
  const [open, setOpen] = useState(false);
  return (
    <>
      <button
        type="button"
        className="button button-primary"
        onClick={() => setOpen(true)}
        disabled={readOnly}
        title={readOnly ? READ_ONLY_REASON : 'Upload a plugin executable, or a new version of an installed one'}
        data-testid="install-open"
      >
        Install plugin
      </button>
      {open ? <InstallDialog onClose={() => setOpen(false)} onInstalled={onInstalled} /> : null}
    </>
  );
}

function InstallDialog({ onClose, onInstalled }: Props & { onClose(): void }) {
  const binaryId = useId();
  const signatureId = useId();
  const [binary, setBinary] = useState<File | null>(null);
  const [signature, setSignature] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!binary) return;
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const sig = signature ? await signature.text() : undefined;
      const installed = await api.installPlugin(binary, sig);
      const { plugin } = installed;
      setResult(
        installed.outcome === 'installed'
          ? `Installed ${plugin.name} ${plugin.version}. It is disabled until you enable it.`
          : `Upgraded ${plugin.name} to ${plugin.version} (previous: ${plugin.previous_version ?? '—'}).`,
      );
      onInstalled(installed);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title="Install plugin" onClose={onClose} testId="install-dialog">
      <form className="confirm" onSubmit={(e) => void submit(e)}>
        <p className="muted">
          The daemon checks the executable as it checks every plugin it finds, and refuses it with the reason if it is
          not one. A plugin whose id is installed is upgraded; if it runs, it must stay healthy on the new version or the
          previous one is put back.
        </p>
        <label className="field" htmlFor={binaryId}>
          <span>Plugin executable (.binary)</span>
          <input
            id={binaryId}
            type="file"
            onChange={(e) => setBinary(e.target.files?.[0] ?? null)}
            required
            data-testid="install-binary"
          />
        </label>
        <label className="field" htmlFor={signatureId}>
          <span>Signature (.sig), optional</span>
          <input
            id={signatureId}
            type="file"
            accept=".sig"
            onChange={(e) => setSignature(e.target.files?.[0] ?? null)}
            data-testid="install-signature"
          />
        </label>
        {error ? (
          <div className="notice notice-error" role="alert" data-testid="install-error">
            {error}
          </div>
        ) : null}
        {result ? (
          <div className="notice notice-info" role="status" data-testid="install-result">
            {result}
          </div>
        ) : null}
        <div className="details-buttons confirm-buttons">
          <button type="button" className="button" onClick={onClose} data-testid="install-close">
            Close
          </button>
          <button
            type="submit"
            className="button button-primary"
            disabled={!binary || busy}
            aria-busy={busy || undefined}
            data-testid="install-submit"
          >
            {busy ? <span className="spinner spinner-small" aria-hidden="true" /> : null}
            {busy ? 'Installing…' : 'Install'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
