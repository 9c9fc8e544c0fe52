import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Plugin } from '../lib/api';
import { PluginsProvider } from '../lib/plugins';
import { ToastProvider } from '../lib/toast';
import { PluginsPage } from '../pages/PluginsPage';
import { apiError, daemonStatus, fakeApi, json, plugin, running } from '../test/fakeApi';
import { PluginCard } from './PluginCard';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('PluginCard', () => {
  it('shows the plugin and its state', () => {
    const p = plugin('hello', { name: 'Hello', author: 'Ann', version: '2.1.0', status: { ...running, restarts: 3 } });
    render(<PluginCard plugin={p} onToggle={vi.fn()} onRestart={vi.fn()} onOpenDetails={vi.fn()} onOpenLogs={vi.fn()} />);
    const card = screen.getByTestId('plugin-card-hello');
    expect(within(card).getByRole('heading', { name: 'Hello' })).toBeTruthy();
    expect(card.textContent).toContain('v2.1.0');
    expect(card.textContent).toContain('Ann');
    expect(card.textContent).toContain('3 restarts');
    expect(screen.getByTestId('plugin-state-hello').textContent).toBe('Running');
    expect(screen.getByTestId('plugin-health-hello').dataset.health).toBe('ok');
    const toggle = screen.getByRole('switch', { name: 'Enable Hello' });
    expect(toggle.getAttribute('aria-checked')).toBe('true');
  });

  it('shows "starting" for a plugin that is enabled but not picked up yet, with a grey dot', () => {
    const p = plugin('hello', { status: { enabled: true, state: 'disabled' } });
    render(<PluginCard plugin={p} onToggle={vi.fn()} onRestart={vi.fn()} onOpenDetails={vi.fn()} onOpenLogs={vi.fn()} />);
    expect(screen.getByTestId('plugin-state-hello').dataset.state).toBe('starting');
    expect(screen.getByTestId('plugin-health-hello').dataset.health).toBe('off');
  });

  it('is red when it runs but is not healthy, or has failed', () => {
    const { rerender } = render(
      <PluginCard plugin={plugin('x', { status: { ...running, healthy: false } })} onToggle={vi.fn()} onRestart={vi.fn()} onOpenDetails={vi.fn()} onOpenLogs={vi.fn()} />,
    );
    expect(screen.getByTestId('plugin-health-x').dataset.health).toBe('bad');
    rerender(
      <PluginCard
        plugin={plugin('x', { status: { state: 'failed', last_error: 'exit status 1' } })}
        onToggle={vi.fn()} onRestart={vi.fn()}
        onOpenDetails={vi.fn()}
        onOpenLogs={vi.fn()}
      />,
    );
    expect(screen.getByTestId('plugin-health-x').dataset.health).toBe('bad');
    expect(screen.getByTestId('plugin-card-x').textContent).toContain('exit status 1');
  });

  it('is disabled and busy while a toggle is pending, showing the value it is switching to', () => {
    const onToggle = vi.fn();
    render(<PluginCard plugin={plugin('hello')} pending={true} onToggle={onToggle} onRestart={vi.fn()} onOpenDetails={vi.fn()} onOpenLogs={vi.fn()} />);
    const toggle = screen.getByRole('switch');
    expect(toggle.getAttribute('aria-checked')).toBe('true');
    expect(toggle.getAttribute('aria-busy')).toBe('true');
    expect((toggle as HTMLButtonElement).disabled).toBe(true);
  });

  it('opens details on a click on the card, but not on its controls', async () => {
    const user = userEvent.setup();
    const onOpenDetails = vi.fn();
    const onOpenLogs = vi.fn();
    const onToggle = vi.fn();
    render(<PluginCard plugin={plugin('hello')} onToggle={onToggle} onRestart={vi.fn()} onOpenDetails={onOpenDetails} onOpenLogs={onOpenLogs} />);
    await user.click(screen.getByText('The hello plugin'));
    expect(onOpenDetails).toHaveBeenCalledTimes(1);
    await user.click(screen.getByRole('switch'));
    expect(onToggle).toHaveBeenCalledWith(true);
    await user.click(screen.getByRole('button', { name: 'Logs' }));
    expect(onOpenLogs).toHaveBeenCalledTimes(1);
    expect(onOpenDetails).toHaveBeenCalledTimes(1);
  });

  it('has a Restart button while the plugin is meant to run (running, starting, backoff), and none while it is disabled', () => {
    const card = (p: Plugin) => <PluginCard plugin={p} onToggle={vi.fn()} onRestart={vi.fn()} onOpenDetails={vi.fn()} onOpenLogs={vi.fn()} />;
    const { rerender } = render(card(plugin('hello', { name: 'Hello', status: running })));
    expect(screen.getByRole('button', { name: 'Restart Hello' })).toBeTruthy();
    for (const state of ['starting', 'backoff'] as const) {
      rerender(card(plugin('hello', { name: 'Hello', status: { enabled: true, state } })));
      expect(screen.getByRole('button', { name: 'Restart Hello' })).toBeTruthy();
    }
    rerender(card(plugin('hello', { name: 'Hello' })));
    expect(screen.queryByRole('button', { name: 'Restart Hello' })).toBeNull();
    rerender(card(plugin('hello', { name: 'Hello', status: { state: 'failed', last_error: 'gave up' } })));
    expect(screen.queryByRole('button', { name: 'Restart Hello' })).toBeNull();
  });

  it('restarts on a click, without opening the details, and the button is disabled while pending', async () => {
    const user = userEvent.setup();
    const onRestart = vi.fn();
    const onOpenDetails = vi.fn();
    const p = plugin('hello', { name: 'Hello', status: running });
    const { rerender } = render(<PluginCard plugin={p} onToggle={vi.fn()} onRestart={onRestart} onOpenDetails={onOpenDetails} onOpenLogs={vi.fn()} />);
    await user.click(screen.getByRole('button', { name: 'Restart Hello' }));
    expect(onRestart).toHaveBeenCalledTimes(1);
    expect(onOpenDetails).not.toHaveBeenCalled();
    rerender(<PluginCard plugin={p} pending={true} onToggle={vi.fn()} onRestart={onRestart} onOpenDetails={onOpenDetails} onOpenLogs={vi.fn()} />);
    const button = screen.getByRole('button', { name: 'Restart Hello' }) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    await user.click(button);
    expect(onRestart).toHaveBeenCalledTimes(1);
  });

  it('can be toggled with the keyboard', async () => {
    const user = userEvent.setup();
    const onToggle = vi.fn();
    render(<PluginCard plugin={plugin('hello', { status: running })} onToggle={onToggle} onRestart={vi.fn()} onOpenDetails={vi.fn()} onOpenLogs={vi.fn()} />);
    screen.getByRole('switch').focus();
    await user.keyboard(' ');
    expect(onToggle).toHaveBeenCalledWith(false);
  });
});

describe('enabling and restarting from the plugins page', () => {
  function renderPage() {
    return render(
      <ToastProvider>
        <PluginsProvider>
          <PluginsPage />
        </PluginsProvider>
      </ToastProvider>,
    );
  }

  it('keeps the switch pending until the plugin runs, then reports success', async () => {
    const user = userEvent.setup();
    let current = plugin('hello', { name: 'Hello' });
    let starts = 0;
    fakeApi({
      'GET /api/plugins': () => json([current]),
      // Like the daemon: enabled at once, but the supervisor has not started it yet.
      'POST /api/plugins/hello/enable': () => {
        current = plugin('hello', { name: 'Hello', status: { enabled: true, state: 'disabled' } });
        return json(current);
      },
      'GET /api/plugins/hello': () => {
        starts += 1;
        current = plugin('hello', { name: 'Hello', status: starts < 2 ? { enabled: true, state: 'starting' } : running });
        return json({ ...current, unit_name: 'toru-plugin-hello.service', events: [] });
      },
    });
    renderPage();
    const toggle = await screen.findByRole('switch', { name: 'Enable Hello' });
    expect(toggle.getAttribute('aria-checked')).toBe('false');

    await user.click(toggle);
    expect(toggle.getAttribute('aria-checked')).toBe('true');
    expect(toggle.getAttribute('aria-busy')).toBe('true');
    expect((toggle as HTMLButtonElement).disabled).toBe(true);
    await waitFor(() => expect(screen.getByTestId('plugin-state-hello').dataset.state).toBe('starting'));
    expect((toggle as HTMLButtonElement).disabled).toBe(true);

    await waitFor(() => expect((toggle as HTMLButtonElement).disabled).toBe(false), { timeout: 4000 });
    expect(toggle.getAttribute('aria-checked')).toBe('true');
    expect(toggle.getAttribute('aria-busy')).toBeNull();
    expect(screen.getByTestId('plugin-state-hello').dataset.state).toBe('running');
    expect((await screen.findByTestId('toast-success')).textContent).toContain('Hello enabled');
  });

  it('restarts from the card: posts to the restart route, stays pending until the plugin runs again, then reports it', async () => {
    const user = userEvent.setup();
    let current = plugin('hello', { name: 'Hello', status: running });
    let polls = 0;
    const fetch = fakeApi({
      'GET /api/plugins': () => json([current]),
      'GET /api/discovery-failures': () => json([]),
      'GET /api/status': () => json(daemonStatus()),
      // Like the daemon: answered at once, the plugin starting again.
      'POST /api/plugins/hello/restart': () => {
        current = plugin('hello', { name: 'Hello', status: { enabled: true, state: 'starting', pid: null } });
        return json(current);
      },
      'GET /api/plugins/hello': () => {
        polls += 1;
        if (polls >= 2) current = plugin('hello', { name: 'Hello', status: { ...running, pid: 43 } });
        return json({ ...current, unit_name: 'toru-plugin-hello.service', events: [] });
      },
    });
    renderPage();
    const restart = (await screen.findByRole('button', { name: 'Restart Hello' })) as HTMLButtonElement;
    const toggle = screen.getByRole('switch', { name: 'Enable Hello' });

    await user.click(restart);
    expect(fetch.mock.calls.filter(([, init]) => init?.method === 'POST').map(([url]) => String(url))).toEqual(['/api/plugins/hello/restart']);
    expect(restart.disabled).toBe(true);
    expect(toggle.getAttribute('aria-busy')).toBe('true');
    expect(toggle.getAttribute('aria-checked')).toBe('true');
    await waitFor(() => expect(screen.getByTestId('plugin-state-hello').dataset.state).toBe('starting'));
    expect(screen.queryByTestId('plugin-details-panel')).toBeNull();

    await waitFor(() => expect(restart.disabled).toBe(false), { timeout: 4000 });
    expect(screen.getByTestId('plugin-state-hello').dataset.state).toBe('running');
    expect(toggle.getAttribute('aria-busy')).toBeNull();
    expect((await screen.findByTestId('toast-success')).textContent).toContain('Hello restarted');
    expect(fetch.unmatched).toEqual([]);
  });

  it('shows an error toast when a restart is refused, and the button is usable again', async () => {
    const user = userEvent.setup();
    fakeApi({
      'GET /api/plugins': () => json([plugin('hello', { name: 'Hello', status: running })]),
      'POST /api/plugins/hello/restart': () => apiError(409, 'conflict', 'the plugin is stopping'),
    });
    renderPage();
    const restart = (await screen.findByRole('button', { name: 'Restart Hello' })) as HTMLButtonElement;
    await user.click(restart);
    expect((await screen.findByTestId('toast-error')).textContent).toContain('Could not restart Hello: the plugin is stopping');
    await waitFor(() => expect(restart.disabled).toBe(false));
  });

  it('shows an error toast and the old state when enabling fails', async () => {
    const user = userEvent.setup();
    fakeApi({
      'GET /api/plugins': () => json([plugin('hello', { name: 'Hello' })]),
      'POST /api/plugins/hello/enable': () => apiError(500, 'internal', 'cannot create the unit'),
    });
    renderPage();
    const toggle = await screen.findByRole('switch', { name: 'Enable Hello' });
    await user.click(toggle);
    const toast = await screen.findByTestId('toast-error');
    expect(toast.textContent).toContain('Could not enable Hello: cannot create the unit');
    expect(toast.closest('[aria-live]')?.getAttribute('aria-live')).toBe('assertive');
    await waitFor(() => expect((toggle as HTMLButtonElement).disabled).toBe(false));
    expect(toggle.getAttribute('aria-checked')).toBe('false');
  });

  it('reports a plugin that crashes while starting', async () => {
    const user = userEvent.setup();
    fakeApi({
      'GET /api/plugins': () => json([plugin('hello', { name: 'Hello' })]),
      'POST /api/plugins/hello/enable': () =>
        json(plugin('hello', { name: 'Hello', status: { enabled: true, state: 'backoff', last_error: 'exited with status 3' } })),
    });
    renderPage();
    await user.click(await screen.findByRole('switch', { name: 'Enable Hello' }));
    expect((await screen.findByTestId('toast-error')).textContent).toContain(
      'Hello crashed while starting: exited with status 3. Toru keeps retrying.',
    );
  });

  it('shows an empty state, and a load error', async () => {
    fakeApi({ 'GET /api/plugins': () => json([]) });
    const { unmount } = renderPage();
    expect(await screen.findByText('No plugins installed')).toBeTruthy();
    unmount();
    vi.unstubAllGlobals();
    fakeApi({ 'GET /api/plugins': () => apiError(500, 'internal', 'database is locked') });
    renderPage();
    expect((await screen.findByTestId('plugins-error')).textContent).toContain('database is locked');
  });
});
