import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PluginsProvider } from '../lib/plugins';
import { ToastProvider } from '../lib/toast';
import { fakeApi, json, plugin, running } from '../test/fakeApi';
import { PluginDetailsPanel } from './PluginDetailsPanel';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('PluginDetailsPanel', () => {
  it('shows metadata, runtime facts, the last error and recent events, and closes with Escape', async () => {
    const p = plugin('hello', {
      name: 'Hello',
      status: { enabled: true, state: 'backoff', pid: null, restarts: 2, consecutive_failures: 2, last_error: 'exited with status 1' },
    });
    fakeApi({
      'GET /api/plugins': () => json([p]),
      'GET /api/plugins/hello': () =>
        json({
          ...p,
          unit_name: 'toru-plugin-hello.service',
          events: [
            { id: 3, plugin_id: 'hello', at_unix_ms: Date.now() - 5000, kind: 'crashed', details: 'exited with status 1' },
            { id: 2, plugin_id: 'hello', at_unix_ms: Date.now() - 9000, kind: 'started', details: 'started and initialised' },
          ],
        }),
    });
    const onClose = vi.fn();
    const opener = document.createElement('button');
    document.body.append(opener);
    opener.focus();
    const { unmount } = render(
      <PluginsProvider>
        <PluginDetailsPanel pluginId="hello" onClose={onClose} onOpenLogs={vi.fn()} />
      </PluginsProvider>,
    );
    const dialog = screen.getByRole('dialog');
    expect(document.activeElement).toBe(dialog);
    expect(await within(dialog).findByText('toru-plugin-hello.service')).toBeTruthy();
    expect(within(dialog).getByRole('heading', { name: /Hello/, level: 2 })).toBeTruthy();
    expect(screen.getByTestId('details-last-error').textContent).toBe('exited with status 1');
    const events = await screen.findByTestId('details-events');
    expect([...events.querySelectorAll('li')].map((li) => li.dataset.kind)).toEqual(['crashed', 'started']);
    expect(within(dialog).getByText('/var/lib/toru/plugins/hello.binary')).toBeTruthy();
    await userEvent.keyboard('{Escape}');
    expect(onClose).toHaveBeenCalledTimes(1);
    unmount();
    expect(document.activeElement).toBe(opener);
    opener.remove();
  });

  it('restarts a running plugin: posts to the restart route, and the button is disabled until it runs again', async () => {
    const user = userEvent.setup();
    let current = plugin('hello', { name: 'Hello', status: running });
    let polls = 0;
    let restartAnswer: () => void = () => undefined;
    const fetch = fakeApi({
      'GET /api/plugins': () => json([current]),
      // Held until the test lets it go, to see the button while the request is in flight.
      'POST /api/plugins/hello/restart': () =>
        new Promise<Response>((resolve) => {
          restartAnswer = () => {
            current = plugin('hello', { name: 'Hello', status: { enabled: true, state: 'starting', pid: null } });
            resolve(json(current));
          };
        }),
      'GET /api/plugins/hello': () => {
        if (polls++ > 0 && current.status.state === 'starting') current = plugin('hello', { name: 'Hello', status: { ...running, pid: 43 } });
        return json({ ...current, unit_name: 'toru-plugin-hello.service', events: [] });
      },
    });
    render(
      <ToastProvider>
        <PluginsProvider>
          <PluginDetailsPanel pluginId="hello" onClose={vi.fn()} onOpenLogs={vi.fn()} />
        </PluginsProvider>
      </ToastProvider>,
    );
    const restart = (await screen.findByRole('button', { name: 'Restart Hello' })) as HTMLButtonElement;
    expect(restart.disabled).toBe(false);
    await user.click(restart);
    expect(restart.disabled).toBe(true);
    expect(screen.getByTestId('details-toggle').getAttribute('aria-busy')).toBe('true');
    const posts = fetch.mock.calls.filter(([, init]) => init?.method === 'POST').map(([url]) => String(url));
    expect(posts).toEqual(['/api/plugins/hello/restart']);
    restartAnswer();
    await waitFor(() => expect(screen.getByTestId('details-pid').textContent).toBe('43'), { timeout: 4000 });
    await waitFor(() => expect(restart.disabled).toBe(false));
    expect((await screen.findByTestId('toast-success')).textContent).toContain('Hello restarted');
    expect(fetch.unmatched).toEqual([]);
  });

  it('has no Restart button for a disabled plugin', async () => {
    const p = plugin('hello', { name: 'Hello' });
    fakeApi({
      'GET /api/plugins': () => json([p]),
      'GET /api/plugins/hello': () => json({ ...p, unit_name: 'toru-plugin-hello.service', events: [] }),
    });
    render(
      <PluginsProvider>
        <PluginDetailsPanel pluginId="hello" onClose={vi.fn()} onOpenLogs={vi.fn()} />
      </PluginsProvider>,
    );
    expect(await screen.findByTestId('details-logs')).toBeTruthy();
    expect(screen.getByRole('switch', { name: 'Enable Hello' }).getAttribute('aria-checked')).toBe('false');
    expect(screen.queryByRole('button', { name: 'Restart Hello' })).toBeNull();
  });
});
