// The details panel's Licence section: where the plugin's licence stands, a form to paste a key
// (`PUT /api/plugins/:id/license`) and a button to remove it (`DELETE`, after a confirmation).
// Any plugin may accept a key, so it is there for every plugin, but folded away when there is
// no key and none is required.

import { useEffect, useId, useState, type FormEvent } from 'react';
import * as api from '../lib/api';
import type { LicenseStatus, Plugin } from '../lib/api';
import { useReadOnly } from '../lib/role';
import { Dialog } from './Dialog';
import { LicenseBadge, formatExpiry, formatExpiryTime } from './LicenseBadge';

interface Props {
  plugin: Plugin;
  /** The daemon's answer after a key was saved or removed (the plugin restarts to check it). */
  onChanged(plugin: Plugin): void;
}

function LicenseFacts({ license }: { license: LicenseStatus }) {
  if (license.state === 'valid') {
    return (
      <dl className="facts" data-testid="details-license-facts">
        <dt>Licensee</dt>
        <dd>{license.licensee || '—'}</dd>
        <dt>Expires</dt>
        <dd title={license.expires_at !== null ? formatExpiryTime(license.expires_at) : undefined}>
          {license.expires_at !== null ? formatExpiry(license.expires_at) : 'Never'}
        </dd>
        <dt>Features</dt>
        <dd>{license.features.length ? license.features.join(', ') : '—'}</dd>
      </dl>
    );
  }
  if (license.state === 'invalid' && license.error) {
    return (
      <dl className="facts" data-testid="details-license-facts">
        <dt>Problem</dt>
        <dd className="mono">{license.error}</dd>
      </dl>
    );
  }
  return null;
}

export function LicenseSection({ plugin, onChanged }: Props) {
  const license = plugin.license as LicenseStatus | undefined; // absent from an older daemon
  const fieldId = useId();
  const hintId = useId();
  const errorId = useId();
  const [open, setOpen] = useState(false);
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState<'save' | 'remove' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  // After a key is saved for a running plugin, "restarts to check it" stands until the plugin's
  // verdict on the new key arrives; then the badge says it all and the note would be stale.
  // `checking` holds the licence as shown when the key was saved: until the plugin list is
  // refreshed the panel may go on showing that very object, the old key's verdict.
  const [checking, setChecking] = useState<LicenseStatus | null>(null);
  const verdictArrived =
    checking !== null && license !== checking && (license?.state === 'valid' || license?.state === 'invalid');
  useEffect(() => {
    if (verdictArrived) {
      setChecking(null);
      setNotice(null);
    }
  }, [verdictArrived]);

  const readOnly = useReadOnly();
  if (!license) return null;
  const important = license.required || license.installed;
  // A viewer sees the licence's state, never the form that would change it.
  const showForm = (important || open) && !readOnly;

  const save = async (event: FormEvent) => {
    event.preventDefault();
    const trimmed = key.trim();
    if (!trimmed || busy) return;
    setBusy('save');
    setError(null);
    setNotice(null);
    setChecking(null);
    try {
      const updated = await api.setLicense(plugin.id, trimmed);
      setKey('');
      setChecking(updated.status.enabled ? license ?? null : null);
      setNotice(
        updated.status.enabled
          ? `Key saved. ${plugin.name} restarts to check it.`
          : `Key saved. ${plugin.name} checks it when it is next enabled.`,
      );
      onChanged(updated);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(null);
    }
  };

  const remove = async () => {
    setConfirming(false);
    setBusy('remove');
    setError(null);
    setNotice(null);
    setChecking(null);
    try {
      const updated = await api.clearLicense(plugin.id);
      setNotice('Licence key removed.');
      onChanged(updated);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(null);
    }
  };

  return (
    <section className="details-section" aria-labelledby={`${fieldId}-title`} data-testid="details-license">
      <h3 className="section-title" id={`${fieldId}-title`}>
        Licence
      </h3>
      {important ? (
        <>
          <LicenseBadge license={license} testId="details-license-state" explainRefusal />
          {license.state !== 'invalid' && license.state !== 'valid' && license.message ? (
            <p className="muted small">{license.message}</p>
          ) : null}
          <LicenseFacts license={license} />
        </>
      ) : (
        <p className="muted small" data-testid="details-license-state" data-state={license.state}>
          No licence key installed. {plugin.name} does not require one.
        </p>
      )}
      {showForm ? (
        <form className="license-form" onSubmit={(event) => void save(event)} data-testid="license-form">
          <label className="field-label" htmlFor={fieldId}>
            {license.installed ? 'Replace the licence key' : 'Licence key'}
          </label>
          <textarea
            id={fieldId}
            className="license-input mono"
            rows={3}
            value={key}
            placeholder="TORU1.…"
            spellCheck={false}
            autoComplete="off"
            // Opened with "Add a licence key", whose button has gone: keep the focus here.
            autoFocus={!important}
            aria-describedby={error ? `${hintId} ${errorId}` : hintId}
            aria-invalid={error ? true : undefined}
            onChange={(event) => {
              setKey(event.target.value);
              setError(null);
            }}
            data-testid="license-key-input"
          />
          <p className="muted small" id={hintId}>
            Paste the key the plugin’s vendor issued for this Toru instance.
          </p>
          {error ? (
            <p className="notice notice-error license-error" role="alert" id={errorId} data-testid="license-error">
              {error}
            </p>
          ) : null}
          <div className="details-buttons">
            <button type="submit" className="button button-primary" disabled={!key.trim() || busy !== null} data-testid="license-save">
              {busy === 'save' ? 'Saving…' : 'Save key'}
            </button>
            {license.installed ? (
              <button
                type="button"
                className="button"
                onClick={() => setConfirming(true)}
                disabled={busy !== null}
                aria-haspopup="dialog"
                data-testid="license-remove"
              >
                {busy === 'remove' ? 'Removing…' : 'Remove key'}
              </button>
            ) : null}
          </div>
        </form>
      ) : readOnly ? null : (
        <div className="details-buttons">
          <button type="button" className="button button-small" onClick={() => setOpen(true)} data-testid="license-add">
            Add a licence key
          </button>
        </div>
      )}
      {notice && !verdictArrived ? (
        <p className="muted small" role="status" data-testid="license-notice">
          {notice}
        </p>
      ) : null}
      {confirming ? (
        <Dialog title="Remove the licence key?" onClose={() => setConfirming(false)} testId="license-remove-dialog">
          <div className="confirm">
            <p>
              {plugin.name} loses whatever its licence unlocks
              {license.required ? ', and Toru refuses its routes until a new key is installed' : ''}. It restarts if it
              runs. You need the key again to undo this.
            </p>
            <div className="details-buttons confirm-buttons">
              <button type="button" className="button" onClick={() => setConfirming(false)} data-testid="license-remove-cancel">
                Cancel
              </button>
              <button type="button" className="button button-danger" onClick={() => void remove()} data-testid="license-remove-confirm">
                Remove key
              </button>
            </div>
          </div>
        </Dialog>
      ) : null}
    </section>
  );
}
