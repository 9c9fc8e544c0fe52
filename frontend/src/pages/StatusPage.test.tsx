import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EventKind, PluginEvent } from '../lib/api';
import { PluginsProvider } from '../lib/plugins';
import { ToastProvider } from '../lib/toast';
import { daemonStatus, fakeApi, json, plugin } from '../test/fakeApi';
import { StatusPage } from './StatusPage';

afterEach(() => {
  vi.unstubAllGlobals();
});

let id = 100;
const at = Date.now() - 60_000;
function event(plugin_id: string, kind: EventKind, second: number): PluginEvent {
  return { id: id++, plugin_id, kind, at_unix_ms: at + second * 1000, details: '' };
}

/** Crashy crashed three times and gave up; Hello started. Newest first, as the daemon lists them. */
const EVENTS = [
  event('crashy', 'enabled', 0),
  event('crashy', 'crashed', 1),
  event('crashy', 'restarting', 2),
  event('crashy', 'crashed', 4),
  event('crashy', 'restarting', 5),
  event('crashy', 'crashed', 9),
  event('crashy', 'gave_up', 10),
  event('hello', 'started', 11),
].reverse();

describe('the overview’s events', () => {
  it('collapses a crash loop into one row that expands, and filters by plugin (on the daemon) and kind (here)', async () => {
    const fetch = fakeApi({
      'GET /api/status': () => json(daemonStatus('embedded', { total: 2 })),
      'GET /api/plugins': () => json([plugin('crashy', { name: 'Crashy' }), plugin('hello', { name: 'Hello' })]),
      'GET /api/events': ({ url }) => {
        const only = url.searchParams.get('plugin');
        return json(only ? EVENTS.filter((e) => e.plugin_id === only) : EVENTS);
      },
    });
    render(
      <ToastProvider>
        <PluginsProvider>
          <StatusPage />
        </PluginsProvider>
      </ToastProvider>,
    );
    const list = await screen.findByTestId('overview-events');
    const kinds = () => [...screen.getByTestId('overview-events').children].map((li) => (li as HTMLElement).dataset.kind);
    expect(kinds()).toEqual(['started', 'crash-loop', 'enabled']);
    const toggle = within(list).getByRole('button', { name: 'Crashed 3× in 9 s, gave up' });
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    await userEvent.click(toggle);
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    const nested = document.getElementById(toggle.getAttribute('aria-controls')!)!;
    expect([...nested.children].map((li) => (li as HTMLElement).dataset.kind)).toEqual([
      'gave_up',
      'crashed',
      'restarting',
      'crashed',
      'restarting',
      'crashed',
    ]);

    // By plugin: asked of the daemon.
    await waitFor(() => expect(screen.getByRole('option', { name: 'Hello' })).toBeTruthy());
    await userEvent.selectOptions(screen.getByLabelText('Plugin'), 'hello');
    await waitFor(() => expect(kinds()).toEqual(['started']));
    const asked = fetch.mock.calls.map(([url]) => new URL(String(url), 'http://dashboard.test')).filter((u) => u.pathname === '/api/events');
    expect(asked.at(-1)!.searchParams.get('plugin')).toBe('hello');

    // By kind: filtered here.
    await userEvent.selectOptions(screen.getByLabelText('Plugin'), '');
    await userEvent.selectOptions(screen.getByLabelText('Kind'), 'gave_up');
    await waitFor(() => expect(kinds()).toEqual(['gave_up']));
    await userEvent.selectOptions(screen.getByLabelText('Kind'), 'healthy');
    expect((await screen.findByText('No events match.')).tagName).toBe('P');
    expect(fetch.unmatched).toEqual([]);
  });
});
