import { render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { license, plugin, running } from '../test/fakeApi';
import { LicenseBadge, formatExpiry, licenseRefusal, licenseSummary } from './LicenseBadge';
import { PluginCard } from './PluginCard';

/** 2026-12-31T23:59:59Z: the last second of a key issued with `--expires 2026-12-31`. */
const END_OF_2026 = 1_798_761_599;

describe('licenseSummary', () => {
  it('names the licensee and the expiry day (in UTC) of a valid licence', () => {
    const valid = license({ installed: true, state: 'valid', error: null, message: null, licensee: 'ACME', expires_at: END_OF_2026 });
    expect(licenseSummary(valid)).toEqual({ tone: 'good', text: `Licensed to ACME · until ${formatExpiry(END_OF_2026)}` });
    expect(formatExpiry(END_OF_2026)).toMatch(/31/);
    expect(formatExpiry(END_OF_2026)).toMatch(/2026/);
    expect(licenseSummary({ ...valid, expires_at: null }).text).toBe('Licensed to ACME');
    expect(licenseSummary({ ...valid, licensee: '' }).text).toMatch(/^Licensed · until/);
  });

  it('gives the plugin’s reason for an invalid one, and falls back to the failure kind', () => {
    const invalid = license({ installed: true, state: 'invalid', error: 'expired', message: 'the licence expired at 2026-01-01T00:00:00Z' });
    expect(licenseSummary(invalid)).toEqual({ tone: 'bad', text: 'Licence invalid: the licence expired at 2026-01-01T00:00:00Z' });
    expect(licenseSummary({ ...invalid, message: null }).text).toBe('Licence invalid: expired');
  });

  it('is amber when a licence is required and missing, grey when not required or not checked', () => {
    expect(licenseSummary(license({ required: true }))).toEqual({ tone: 'warn', text: 'Licence required' });
    expect(licenseSummary(license())).toEqual({ tone: 'neutral', text: 'No licence key' });
    expect(licenseSummary(license({ installed: true, state: 'unchecked', error: null }))).toEqual({
      tone: 'neutral',
      text: 'Licence not checked yet',
    });
  });
});

describe('licenseRefusal', () => {
  it('matches the daemon: 402 without a key, 403 with a bad or unchecked one, none if valid or not required', () => {
    expect(licenseRefusal(license({ required: true }))).toBe(402);
    expect(licenseRefusal(license({ required: true, installed: true, state: 'invalid', error: 'wrong_instance' }))).toBe(403);
    expect(licenseRefusal(license({ required: true, installed: true, state: 'unchecked', error: null }))).toBe(403);
    expect(licenseRefusal(license({ required: true, installed: true, state: 'valid', error: null }))).toBeNull();
    expect(licenseRefusal(license({ installed: true, state: 'invalid', error: 'wrong_instance' }))).toBeNull();
  });
});

describe('LicenseBadge', () => {
  it('carries the state and failure kind, and explains a refusal only when asked', () => {
    const l = license({ required: true, installed: true, state: 'invalid', error: 'wrong_instance', message: 'issued for instance A, this is instance B' });
    const { rerender } = render(<LicenseBadge license={l} testId="badge" />);
    const badge = screen.getByTestId('badge');
    expect(badge.dataset.state).toBe('invalid');
    expect(badge.dataset.error).toBe('wrong_instance');
    expect(badge.className).toContain('license-bad');
    expect(badge.textContent).toContain('Licence invalid: issued for instance A, this is instance B');
    expect(screen.queryByTestId('badge-refusal')).toBeNull();
    rerender(<LicenseBadge license={l} testId="badge" explainRefusal />);
    expect(screen.getByTestId('badge-refusal').textContent).toMatch(/refuses its routes \(HTTP 403\)/);
  });
});

describe('the plugin card’s licence line', () => {
  const card = (p: ReturnType<typeof plugin>) =>
    render(<PluginCard plugin={p} onToggle={vi.fn()} onRestart={vi.fn()} onOpenDetails={vi.fn()} onOpenLogs={vi.fn()} />);

  it('is absent when no key is installed and none is required', () => {
    card(plugin('free', { status: running }));
    expect(screen.queryByTestId('plugin-license-free')).toBeNull();
  });

  it('is green with the licensee for a valid key', () => {
    card(plugin('pro', { license: { installed: true, state: 'valid', error: null, message: null, licensee: 'E2E Ltd', features: ['pro'] } }));
    const line = screen.getByTestId('plugin-license-pro');
    expect(line.dataset.state).toBe('valid');
    expect(line.className).toContain('license-good');
    expect(line.textContent).toBe('🔑Licensed to E2E Ltd');
  });

  it('says a required licence is missing and that the routes are refused', () => {
    card(plugin('paid', { license_required: true }));
    const line = screen.getByTestId('plugin-license-paid');
    expect(line.dataset.state).toBe('missing');
    expect(line.className).toContain('license-warn');
    expect(line.textContent).toContain('Licence required');
    expect(screen.getByTestId('plugin-license-paid-refusal').textContent).toMatch(/HTTP 402/);
  });

  it('shows an invalid key’s message, and a key not checked yet, in grey', () => {
    const { unmount } = card(
      plugin('x', { license: { installed: true, state: 'invalid', error: 'wrong_instance', message: 'the licence key was issued for instance A, this is instance B' } }),
    );
    expect(screen.getByTestId('plugin-license-x').textContent).toContain('Licence invalid: the licence key was issued for instance A, this is instance B');
    expect(screen.queryByTestId('plugin-license-x-refusal')).toBeNull(); // not required: its routes still work
    unmount();
    card(plugin('y', { license: { installed: true, state: 'unchecked', error: null } }));
    expect(screen.getByTestId('plugin-license-y').className).toContain('license-neutral');
    expect(screen.getByTestId('plugin-license-y').textContent).toContain('Licence not checked yet');
  });
});
