import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PluginsProvider } from '../lib/plugins';
import { fakeApi, json, plugin, running } from '../test/fakeApi';
import { PluginDetailsPanel } from './PluginDetailsPanel';

afterEach(() => {
  vi.unstubAllGlobals();
});

function renderPanel(onClose = vi.fn()) {
  render(
    <PluginsProvider>
      <PluginDetailsPanel pluginId="hello" onClose={onClose} onOpenLogs={vi.fn()} />
    </PluginsProvider>,
  );
  return onClose;
}

describe('the details panel’s Versions section', () => {
  it('cannot roll back without a previous version', async () => {
    const current = plugin('hello', { name: 'Hello', status: running });
    fakeApi({
      'GET /api/plugins': () => json([current]),
      'GET /api/plugins/hello': () => json({ ...current, unit_name: null, events: [] }),
    });
    renderPanel();
    const section = await screen.findByTestId('details-versions');
    expect(within(section).getByTestId('details-previous-version').textContent).toBe('—');
    expect((within(section).getByTestId('details-rollback') as HTMLButtonElement).disabled).toBe(true);
  });

  it('rolls back to the previous version, and uninstalls with purge after a confirmation', async () => {
    const user = userEvent.setup();
    let current = plugin('hello', { name: 'Hello', status: running, version: '1.1.0', previous_version: '1.0.0' });
    const fetch = fakeApi({
      'GET /api/plugins': () => json([current]),
      'GET /api/plugins/hello': () => json({ ...current, unit_name: null, events: [] }),
      'POST /api/plugins/hello/rollback': () => {
        current = { ...current, version: '1.0.0', previous_version: '1.1.0' };
        return json(current);
      },
      'DELETE /api/plugins/hello': ({ url }) => json({ id: 'hello', purged: url.searchParams.get('purge') === 'true' }),
    });
    const onClose = renderPanel();
    const rollback = await screen.findByTestId('details-rollback');
    expect(rollback.textContent).toBe('Roll back to 1.0.0');
    await user.click(rollback);
    await waitFor(() => expect(screen.getByTestId('details-previous-version').textContent).toBe('1.1.0'));

    await user.click(screen.getByTestId('details-uninstall'));
    const dialog = await screen.findByTestId('uninstall-dialog');
    await user.click(within(dialog).getByTestId('uninstall-purge'));
    await user.click(within(dialog).getByTestId('uninstall-confirm'));
    await waitFor(() => expect(onClose).toHaveBeenCalled());
    const deleted = fetch.mock.calls.find(([, init]) => init?.method === 'DELETE');
    expect(String(deleted?.[0])).toBe('/api/plugins/hello?purge=true');
  });
});
