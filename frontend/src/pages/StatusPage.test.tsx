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
  return { id: id++, plugin_id, kind, at_unix_ms: at + second * 1000, details: '', user: null, actor: null };
}

/** Crashy crashed three times and gave up; Hello started. Newest first, as the daemon lists them. */
const EVENTS = [
  { ...event('crashy', 'enabled', 0), actor: { via: 'password' as const, name: 'alice', address: '192.0.2.7' } },
  event('crashy', 'crashed', 1),
  event('crashy', 'restarting', 2),
  event('crashy', 'crashed', 4),
  event('crashy', 'restarting', 5),
  event('crashy', 'crashed', 9),
  event('crashy', 'gave_up', 10),
  event('hello', 'started', 11),
].reverse();

describe('the overview’s events', () => {
  it('collapses a crash loop into one row that expands, and filters by plugin, kind and actor on the daemon', async () => {
    const fetch = fakeApi({
      'GET /api/status': () => json(daemonStatus('embedded', { total: 2 })),
      'GET /api/plugins': () => json([plugin('crashy', { name: 'Crashy' }), plugin('hello', { name: 'Hello' })]),
      'GET /api/events': ({ url }) => {
        const [plugin, kind, actor] = ['plugin', 'kind', 'actor'].map((name) => url.searchParams.get(name));
        return json(
          EVENTS.filter((e) => !plugin || e.plugin_id === plugin)
            .filter((e) => !kind || e.kind === kind)
            .filter((e) => !actor || e.actor?.name === actor),
        );
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

    // By kind, asked of the daemon too.
    await userEvent.selectOptions(screen.getByLabelText('Plugin'), '');
    await userEvent.selectOptions(screen.getByLabelText('Kind'), 'gave_up');
    await waitFor(() => expect(kinds()).toEqual(['gave_up']));
    const last = () =>
      fetch.mock.calls
        .map(([url]) => new URL(String(url), 'http://dashboard.test'))
        .filter((u) => u.pathname === '/api/events')
        .at(-1)!.searchParams;
    expect(last().get('kind')).toBe('gave_up');
    await userEvent.selectOptions(screen.getByLabelText('Kind'), 'healthy');
    expect((await screen.findByText('No events match.')).tagName).toBe('P');

    // By who made the change (the audit trail), once the typing stops; each change says by whom.
    await userEvent.selectOptions(screen.getByLabelText('Kind'), '');
    await userEvent.type(screen.getByLabelText('Changed by'), 'alice');
    await waitFor(() => expect(kinds()).toEqual(['enabled']));
    expect(last().get('actor')).toBe('alice');
    expect(screen.getByText('by alice from 192.0.2.7')).toBeTruthy();
    expect(fetch.unmatched).toEqual([]);
  });
});
