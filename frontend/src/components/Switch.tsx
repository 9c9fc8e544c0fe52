import type { ReactNode } from 'react';

interface SwitchProps {
  checked: boolean;
  onChange(checked: boolean): void;
  /** The accessible name, e.g. "Enable Hello (Python)". */
  label: string;
  /** Visible text next to the switch; the label is used for screen readers either way. */
  children?: ReactNode;
  disabled?: boolean;
  /** Shows a spinner and sets aria-busy (the switch is disabled meanwhile). */
  busy?: boolean;
  testId?: string;
  className?: string;
}

/** An on/off switch: a real `<button role="switch">`, so Space and Enter work. */
export function Switch({ checked, onChange, label, children, disabled, busy, testId, className }: SwitchProps) {
  return (
    <button
      type="button"
      role="switch"
      aria-checked={checked}
      aria-label={label}
      aria-busy={busy || undefined}
      disabled={disabled || busy}
      data-testid={testId}
      data-pending={busy ? 'true' : undefined}
      className={`switch${checked ? ' switch-on' : ''}${busy ? ' switch-busy' : ''}${className ? ` ${className}` : ''}`}
      onClick={(event) => {
        event.stopPropagation();
        onChange(!checked);
      }}
    >
      <span className="switch-track" aria-hidden="true">
        <span className="switch-thumb">{busy ? <span className="spinner spinner-small" /> : null}</span>
      </span>
      {children ? <span className="switch-text">{children}</span> : null}
    </button>
  );
}
