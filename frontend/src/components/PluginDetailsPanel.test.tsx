import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PluginsProvider } from '../lib/plugins';
import { fakeApi, json, plugin } from '../test/fakeApi';
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
});
