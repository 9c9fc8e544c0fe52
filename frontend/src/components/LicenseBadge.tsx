// How a plugin's licence is shown: one coloured line on the card ("Licensed to ACME · until
// 31 Dec 2026", "Licence invalid: …", "Licence required", "Licence not checked yet"), and the
// same words in the details panel's Licence section.

import type { LicenseStatus, Plugin } from '../lib/api';

export type LicenseTone = 'good' | 'bad' | 'warn' | 'neutral';

/** The day a licence expires, in UTC (keys issued for a date are valid through that UTC day). */
export function formatExpiry(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toLocaleDateString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    timeZone: 'UTC',
  });
}

/** The expiry as a full UTC time, for titles. */
export function formatExpiryTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** One line about the licence and its colour. */
export function licenseSummary(license: LicenseStatus): { tone: LicenseTone; text: string } {
  switch (license.state) {
    case 'valid': {
      let text = license.licensee ? `Licensed to ${license.licensee}` : 'Licensed';
      if (license.expires_at !== null) text += ` · until ${formatExpiry(license.expires_at)}`;
      return { tone: 'good', text };
    }
    case 'invalid':
      return { tone: 'bad', text: `Licence invalid: ${license.message || license.error || 'the plugin rejected the key'}` };
    case 'unchecked':
      return { tone: 'neutral', text: 'Licence not checked yet' };
    case 'missing':
      return license.required ? { tone: 'warn', text: 'Licence required' } : { tone: 'neutral', text: 'No licence key' };
  }
}

/** Whether the daemon refuses the plugin's routes for want of a valid licence, and with which
 *  HTTP status (402 with no key, 403 otherwise), as `plugins/license.rs` decides it. */
export function licenseRefusal(license: LicenseStatus): 402 | 403 | null {
  if (!license.required || license.state === 'valid') return null;
  return license.state === 'missing' ? 402 : 403;
}

/** Why the routes are refused, in words. */
export function refusalText(license: LicenseStatus): string | null {
  const status = licenseRefusal(license);
  if (status === null) return null;
  return status === 402
    ? 'This plugin needs a licence: Toru refuses its routes (HTTP 402) until a valid key is installed.'
    : 'This plugin needs a valid licence: Toru refuses its routes (HTTP 403) until the plugin accepts its key.';
}

/** Whether the card shows the licence at all: only when it matters (required, or a key is in). */
export function showsLicense(plugin: Plugin): boolean {
  const license = plugin.license as LicenseStatus | undefined; // absent from an older daemon
  return Boolean(license && (license.required || license.installed));
}

interface LicenseBadgeProps {
  license: LicenseStatus;
  testId?: string;
  /** Also say why the plugin's routes are refused (when they are). */
  explainRefusal?: boolean;
}

/** The licence's state as a coloured line; `data-state` is the daemon's state. */
export function LicenseBadge({ license, testId, explainRefusal = false }: LicenseBadgeProps) {
  const { tone, text } = licenseSummary(license);
  const refusal = explainRefusal ? refusalText(license) : null;
  return (
    <div
      className={`license-badge license-${tone}`}
      data-testid={testId}
      data-state={license.state}
      data-error={license.error ?? undefined}
      title={license.expires_at !== null && license.state === 'valid' ? `Valid until ${formatExpiryTime(license.expires_at)}` : undefined}
    >
      <span className="license-line">
        <span className="license-icon" aria-hidden="true">
          🔑
        </span>
        <span className="license-text">{text}</span>
      </span>
      {refusal ? (
        <span className="license-refusal" data-testid={testId ? `${testId}-refusal` : undefined}>
          {refusal}
        </span>
      ) : null}
    </div>
  );
}
