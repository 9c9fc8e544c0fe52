// The plugin page's Settings section: a form generated from the settings the plugin declares
// (`GET /api/plugins/:id/config`) — a text or number input, a checkbox for a boolean, a select for
// an enum, a password input for a secret, which is write-only and shows only whether it is set.
// Saving sends only what changed (`PUT`, `null` unsets); the daemon validates the whole and names
// the setting it refuses, which is shown next to that field. Viewers see the form disabled.

import { useEffect, useId, useState, type FormEvent } from 'react';
import * as api from '../lib/api';
import type { PluginSettings, SettingField, SettingsChange } from '../lib/api';
import { READ_ONLY_REASON, useReadOnly } from '../lib/role';

/** What a field holds while it is edited: text for inputs and selects, a flag for checkboxes. */
type Draft = Record<string, string | boolean>;

/** The form's starting values: the value set, else empty (the default shows as placeholder). A
 *  secret always starts empty: typing replaces it, leaving it empty keeps it. */
export function draftOf(settings: PluginSettings): Draft {
  const draft: Draft = {};
  for (const field of settings.settings) {
    const value = field.value.state === 'set' ? field.value.value : undefined;
    if (field.type === 'boolean') draft[field.name] = value === true || (value === undefined && field.default === true);
    else draft[field.name] = value === undefined || value === null ? '' : String(value);
  }
  return draft;
}

/** The change to send: each field whose draft differs from what is stored, as its type; an
 *  emptied field unsets its value. A field that cannot be read as its type is an error. */
export function changeOf(settings: PluginSettings, draft: Draft): { change: SettingsChange; errors: Record<string, string> } {
  const change: SettingsChange = {};
  const errors: Record<string, string> = {};
  const initial = draftOf(settings);
  for (const field of settings.settings) {
    const now = draft[field.name] ?? '';
    if (field.secret) {
      if (typeof now === 'string' && now !== '') change[field.name] = now;
      continue;
    }
    if (now === initial[field.name]) continue;
    if (typeof now === 'boolean') {
      change[field.name] = now;
    } else if (now === '') {
      change[field.name] = null;
    } else if (field.type === 'integer' || field.type === 'number') {
      const n = Number(now);
      if (now.trim() === '' || !Number.isFinite(n) || (field.type === 'integer' && !Number.isInteger(n))) {
        errors[field.name] = field.type === 'integer' ? 'Enter a whole number.' : 'Enter a number.';
      } else {
        change[field.name] = n;
      }
    } else {
      change[field.name] = now;
    }
  }
  return { change, errors };
}

/** The setting a daemon's `invalid_settings` message names (`port: …`), if it is one of these. */
export function fieldOfError(settings: PluginSettings, message: string): string | null {
  const name = message.split(':', 1)[0] ?? '';
  return settings.settings.some((f) => f.name === name) ? name : null;
}

function hintOf(field: SettingField): string {
  const parts: string[] = [];
  if (field.description) parts.push(field.description);
  if (field.minimum !== null && field.maximum !== null) parts.push(`From ${field.minimum} to ${field.maximum}.`);
  else if (field.minimum !== null) parts.push(`At least ${field.minimum}.`);
  else if (field.maximum !== null) parts.push(`At most ${field.maximum}.`);
  if (field.default !== null && field.default !== undefined && !field.secret && field.type !== 'boolean') {
    parts.push(`Default: ${String(field.default)}.`);
  }
  if (field.required) parts.push('Required.');
  return parts.join(' ');
}

interface FieldProps {
  field: SettingField;
  value: string | boolean;
  error: string | undefined;
  disabled: boolean;
  onChange(value: string | boolean): void;
}

function SettingInput({ field, value, error, disabled, onChange }: FieldProps) {
  const id = useId();
  const hint = hintOf(field);
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  const common = {
    id,
    name: field.name,
    disabled,
    'aria-describedby': describedBy,
    'aria-invalid': error ? true : undefined,
    'data-testid': `setting-${field.name}`,
  };
  const label = field.title ?? field.name;
  let input;
  if (field.type === 'boolean') {
    input = <input type="checkbox" {...common} checked={value === true} onChange={(e) => onChange(e.target.checked)} />;
  } else if (field.type === 'enum') {
    input = (
      <select {...common} value={String(value)} onChange={(e) => onChange(e.target.value)}>
        <option value="">{field.default !== null && field.default !== undefined ? `Default (${String(field.default)})` : 'Not set'}</option>
        {field.options.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
    );
  } else if (field.secret) {
    input = (
      <input
        type="password"
        {...common}
        value={String(value)}
        autoComplete="new-password"
        placeholder={field.value.state === 'secret_set' ? 'Set — type to replace' : 'Not set'}
        onChange={(e) => onChange(e.target.value)}
      />
    );
  } else {
    const numeric = field.type === 'integer' || field.type === 'number';
    input = (
      <input
        type={numeric ? 'number' : 'text'}
        inputMode={field.type === 'integer' ? 'numeric' : undefined}
        step={field.type === 'integer' ? 1 : 'any'}
        {...common}
        value={String(value)}
        placeholder={field.default !== null && field.default !== undefined ? String(field.default) : ''}
        onChange={(e) => onChange(e.target.value)}
      />
    );
  }
  return (
    <div className={field.type === 'boolean' ? 'field setting-field setting-checkbox' : 'field setting-field'}>
      <label className="field-label" htmlFor={id}>
        {label}
        {field.secret ? <span className="muted small"> (secret)</span> : null}
      </label>
      {input}
      {hint ? (
        <p className="muted small" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      {error ? (
        <p className="field-error" role="alert" id={`${id}-error`} data-testid={`setting-error-${field.name}`}>
          {error}
        </p>
      ) : null}
    </div>
  );
}

export function SettingsSection({ pluginId, pluginName }: { pluginId: string; pluginName: string }) {
  const readOnly = useReadOnly();
  const titleId = useId();
  const [settings, setSettings] = useState<PluginSettings | null>(null);
  const [draft, setDraft] = useState<Draft>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const abort = new AbortController();
    setSettings(null);
    api
      .pluginSettings(pluginId, abort.signal)
      .then((loaded) => {
        setSettings(loaded);
        setDraft(draftOf(loaded));
      })
      .catch((e: unknown) => {
        if (!abort.signal.aborted) setFormError(e instanceof Error ? e.message : String(e));
      });
    return () => abort.abort();
  }, [pluginId]);

  if (!settings || settings.settings.length === 0) {
    return formError ? (
      <p className="notice notice-error" role="alert">
        Settings could not be loaded: {formError}
      </p>
    ) : null;
  }

  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (busy || readOnly) return;
    const { change, errors: local } = changeOf(settings, draft);
    setErrors(local);
    setFormError(null);
    setNotice(null);
    if (Object.keys(local).length > 0) return;
    if (Object.keys(change).length === 0) {
      setNotice('Nothing changed.');
      return;
    }
    setBusy(true);
    try {
      const saved = await api.setPluginSettings(pluginId, change);
      setSettings(saved);
      setDraft(draftOf(saved));
      setNotice(`Saved. ${pluginName} restarts to use them if it runs.`);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const field = e instanceof api.ApiError && e.code === 'invalid_settings' ? fieldOfError(settings, message) : null;
      if (field) setErrors({ [field]: message.slice(field.length + 1).trim() });
      else setFormError(message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card settings-section" aria-labelledby={titleId} data-testid="plugin-settings">
      <h2 className="section-title" id={titleId}>
        Settings
      </h2>
      <form className="settings-form" onSubmit={(event) => void save(event)} noValidate>
        {settings.settings.map((field) => (
          <SettingInput
            key={field.name}
            field={field}
            value={draft[field.name] ?? ''}
            error={errors[field.name]}
            disabled={readOnly || busy}
            onChange={(value) => {
              setDraft((d) => ({ ...d, [field.name]: value }));
              setErrors(({ [field.name]: _gone, ...rest }) => rest);
              setNotice(null);
            }}
          />
        ))}
        {formError ? (
          <p className="notice notice-error" role="alert" data-testid="settings-error">
            {formError}
          </p>
        ) : null}
        <div className="details-buttons">
          <button
            type="submit"
            className="button button-primary"
            disabled={readOnly || busy}
            title={readOnly ? READ_ONLY_REASON : undefined}
            data-testid="settings-save"
          >
            {busy ? 'Saving…' : 'Save settings'}
          </button>
        </div>
        {notice ? (
          <p className="muted small" role="status" data-testid="settings-notice">
            {notice}
          </p>
        ) : null}
      </form>
    </section>
  );
}
