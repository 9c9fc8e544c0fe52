import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DiscoveryFailure, Plugin } from '../lib/api';
import { PluginsProvider } from '../lib/plugins';
import { basename, rescanSummary } from '../lib/skipped';
import { RoleProvider } from '../lib/role';
import { ToastProvider } from '../lib/toast';
import { apiError, daemonStatus, fakeApi, json, plugin } from '../test/fakeApi';
import { PluginsPage } from './PluginsPage';

afterEach(() => {
  vi.unstubAllGlobals();
});

function renderPage() {
  return render(
    <ToastProvider>
      <PluginsProvider>
        <PluginsPage />
      </PluginsProvider>
    </ToastProvider>,
  );
}

const garbage: DiscoveryFailure = {
  binary: '/var/lib/toru/plugins/broken.binary',
  reason: '--metadata printed invalid metadata (expected value at line 1 column 1): "garbage"',
};

/** The calls made, as "METHOD /path", in order. */
function calls(fetch: ReturnType<typeof fakeApi>): string[] {
  return fetch.mock.calls.map(([url, init]) => `${init?.method ?? 'GET'} ${new URL(String(url), 'http://dashboard.test').pathname}`);
}

describe('skipped files on the plugins page', () => {
  it('lists each skipped file by name, with its full path in a title, and its reason', async () => {
    const fetch = fakeApi({
      'GET /api/plugins': () => json([plugin('hello', { name: 'Hello' })]),
      'GET /api/discovery-failures': () => json([garbage, { binary: '/var/lib/toru/plugins/dir.binary', reason: 'not a regular file' }]),
      'GET /api/status': () => json(daemonStatus()),
    });
    renderPage();
    const section = await screen.findByRole('region', { name: '2 files skipped' });
    expect(section.dataset.testid).toBe('skipped-binaries');
    const items = within(section).getAllByTestId('skipped-binary');
    expect(items.map((item) => item.querySelector('.skipped-file')?.textContent)).toEqual(['broken.binary', 'dir.binary']);
    expect(within(items[0]!).getByText('broken.binary').getAttribute('title')).toBe('/var/lib/toru/plugins/broken.binary');
    expect(items[0]!.textContent).toContain(garbage.reason);
    expect(items[1]!.textContent).toContain('not a regular file');
    // The plugins are still listed under it.
    expect(screen.getByTestId('plugin-card-hello')).toBeTruthy();
    expect(fetch.unmatched).toEqual([]);
  });

  it('says "1 file skipped" for one', async () => {
    fakeApi({
      'GET /api/plugins': () => json([]),
      'GET /api/discovery-failures': () => json([garbage]),
    });
    renderPage();
    expect(await screen.findByRole('region', { name: '1 file skipped' })).toBeTruthy();
    // Shown with the empty state too: a broken file is often why there are no plugins.
    expect(screen.getByText('No plugins installed')).toBeTruthy();
  });

  it('shows nothing when no file is skipped, or when the list cannot be read', async () => {
    const fetch = fakeApi({
      'GET /api/plugins': () => json([plugin('hello', { name: 'Hello' })]),
      'GET /api/discovery-failures': () => json([]),
    });
    const { unmount } = renderPage();
    await screen.findByTestId('plugin-card-hello');
    await waitFor(() => expect(calls(fetch)).toContain('GET /api/discovery-failures'));
    expect(screen.queryByTestId('skipped-binaries')).toBeNull();
    expect(screen.queryByText(/skipped/)).toBeNull();
    unmount();

    vi.unstubAllGlobals();
    const failing = fakeApi({
      'GET /api/plugins': () => json([plugin('hello', { name: 'Hello' })]),
      'GET /api/discovery-failures': () => apiError(500, 'internal', 'oops'),
    });
    renderPage();
    await screen.findByTestId('plugin-card-hello');
    await waitFor(() => expect(calls(failing)).toContain('GET /api/discovery-failures'));
    expect(screen.queryByTestId('skipped-binaries')).toBeNull();
  });
});

describe('Rescan on the plugins page', () => {
  it('posts to /api/rescan, is busy meanwhile, then shows the new plugin and the new skipped list, and says what changed', async () => {
    const user = userEvent.setup();
    let installed: Plugin[] = [plugin('hello', { name: 'Hello' })];
    let skipped: DiscoveryFailure[] = [];
    let answerRescan: () => void = () => undefined;
    const fetch = fakeApi({
      'GET /api/plugins': () => json(installed),
      'GET /api/discovery-failures': () => json(skipped),
      'GET /api/status': () => json(daemonStatus()),
      // Like the daemon: the scan finds a new plugin and a broken file, and answers the list.
      'POST /api/rescan': () =>
        new Promise<Response>((resolve) => {
          answerRescan = () => {
            installed = [...installed, plugin('weather', { name: 'Weather' })];
            skipped = [garbage];
            resolve(json(installed));
          };
        }),
    });
    renderPage();
    await screen.findByTestId('plugin-card-hello');
    expect(screen.queryByTestId('skipped-binaries')).toBeNull();

    const button = screen.getByRole('button', { name: 'Rescan plugins directory' }) as HTMLButtonElement;
    await user.click(button);
    expect(button.disabled).toBe(true);
    expect(button.getAttribute('aria-busy')).toBe('true');
    await waitFor(() => expect(calls(fetch)).toContain('POST /api/rescan'));

    answerRescan();
    expect(await screen.findByTestId('plugin-card-weather')).toBeTruthy();
    const section = await screen.findByRole('region', { name: '1 file skipped' });
    expect(within(section).getByText('broken.binary')).toBeTruthy();
    expect((await screen.findByTestId('toast-success')).textContent).toContain('1 new plugin: Weather · 1 file skipped');
    await waitFor(() => expect(button.disabled).toBe(false));
    expect(button.getAttribute('aria-busy')).toBeNull();

    // The skipped list was read again after the rescan answered, not only when the page opened.
    const order = calls(fetch);
    expect(order.lastIndexOf('GET /api/discovery-failures')).toBeGreaterThan(order.indexOf('POST /api/rescan'));
    expect(order.filter((c) => c === 'POST /api/rescan')).toHaveLength(1);
    expect(fetch.unmatched).toEqual([]);
  });

  it('takes the section away once the file is fixed, and says when nothing is new', async () => {
    const user = userEvent.setup();
    let skipped: DiscoveryFailure[] = [garbage];
    fakeApi({
      'GET /api/plugins': () => json([plugin('hello', { name: 'Hello' })]),
      'GET /api/discovery-failures': () => json(skipped),
      'POST /api/rescan': () => {
        skipped = [];
        return json([plugin('hello', { name: 'Hello' })]);
      },
    });
    renderPage();
    await screen.findByTestId('skipped-binaries');
    await user.click(screen.getByRole('button', { name: 'Rescan plugins directory' }));
    await waitFor(() => expect(screen.queryByTestId('skipped-binaries')).toBeNull());
    expect((await screen.findByTestId('toast-info')).textContent).toContain('No new plugins');
  });

  it('reports a failed rescan as an error toast and is usable again', async () => {
    const user = userEvent.setup();
    fakeApi({
      'GET /api/plugins': () => json([plugin('hello', { name: 'Hello' })]),
      'GET /api/discovery-failures': () => json([]),
      'POST /api/rescan': () => apiError(500, 'internal', 'cannot read the plugins directory'),
    });
    renderPage();
    await screen.findByTestId('plugin-card-hello');
    const button = screen.getByRole('button', { name: 'Rescan plugins directory' }) as HTMLButtonElement;
    await user.click(button);
    const toast = await screen.findByTestId('toast-error');
    expect(toast.textContent).toContain('Could not rescan the plugins directory: cannot read the plugins directory');
    await waitFor(() => expect(button.disabled).toBe(false));
    expect(screen.getByTestId('plugin-card-hello')).toBeTruthy();
  });

  it('is there when no plugin is installed, and the empty state points to it', async () => {
    fakeApi({ 'GET /api/plugins': () => json([]), 'GET /api/discovery-failures': () => json([]) });
    renderPage();
    expect((await screen.findByText('No plugins installed')).parentElement?.textContent).toContain('click Rescan');
    expect(screen.getByRole('button', { name: 'Rescan plugins directory' })).toBeTruthy();
  });
});

describe('rescanSummary', () => {
  const hello = plugin('hello', { name: 'Hello' });
  it('names the new plugins and counts the skipped files', () => {
    expect(rescanSummary([hello], [hello], [])).toEqual({ message: 'No new plugins', found: 0 });
    expect(rescanSummary([hello], [hello, plugin('a', { name: 'A' }), plugin('b', { name: 'B' })], [garbage, garbage])).toEqual({
      message: '2 new plugins: A, B · 2 files skipped',
      found: 2,
    });
    expect(rescanSummary(null, [hello], null)).toEqual({ message: '1 plugin installed', found: 0 });
  });

  it('takes the file name of a path', () => {
    expect(basename('/var/lib/toru/plugins/x.binary')).toBe('x.binary');
    expect(basename('x.binary')).toBe('x.binary');
  });
});

describe('the sandbox on the plugins page', () => {
  const plugins = [
    plugin('cam', { name: 'Camera', permissions: { network: false, writable_paths: [], devices: ['/dev/video0'], jit: false } }),
    plugin('plain', { name: 'Plain' }),
  ];

  it('says on every card that nothing is sandboxed when the daemon runs the embedded supervisor', async () => {
    fakeApi({
      'GET /api/plugins': () => json(plugins),
      'GET /api/discovery-failures': () => json([]),
      'GET /api/status': () => json(daemonStatus('embedded')),
    });
    renderPage();
    await waitFor(() => expect(screen.getByTestId('plugin-unsandboxed-cam').textContent).toContain('Not enforced'));
    expect(screen.getByTestId('plugin-permissions-cam').textContent).toContain('Device /dev/video0');
    expect(screen.getByTestId('plugin-unsandboxed-plain').textContent).toContain('Not sandboxed');
  });

  it('lists the requests as it did under systemd', async () => {
    const fetch = fakeApi({
      'GET /api/plugins': () => json(plugins),
      'GET /api/discovery-failures': () => json([]),
      'GET /api/status': () => json(daemonStatus('systemd')),
    });
    renderPage();
    expect((await screen.findByTestId('plugin-permissions-cam')).textContent).toBe('RequestsDevice /dev/video0');
    await waitFor(() => expect(calls(fetch)).toContain('GET /api/status'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(screen.queryByTestId('plugin-unsandboxed-cam')).toBeNull();
    expect(screen.queryByTestId('plugin-permissions-plain')).toBeNull();
  });
});

describe('the plugins page filtered by state', () => {
  it('says when no plugin is in the state asked for, and ignores a state it does not know', async () => {
    fakeApi({
      'GET /api/plugins': () => json([plugin('hello', { name: 'Hello' })]),
      'GET /api/discovery-failures': () => json([]),
      'GET /api/status': () => json(daemonStatus()),
    });
    window.history.replaceState(null, '', '/plugins?state=failed');
    const { unmount } = renderPage();
    expect((await screen.findByTestId('plugins-filter')).textContent).toContain('No failed plugins.');
    expect(screen.queryByTestId('plugin-card-hello')).toBeNull();
    expect(screen.getByRole('link', { name: 'Show all plugins' }).getAttribute('href')).toBe('/plugins');
    unmount();

    window.history.replaceState(null, '', '/plugins?state=bogus');
    renderPage();
    expect(await screen.findByTestId('plugin-card-hello')).toBeTruthy();
    expect(screen.queryByTestId('plugins-filter')).toBeNull();
  });
});

describe('the plugins page for a viewer', () => {
  it('disables every control that changes something', async () => {
    fakeApi({
      'GET /api/plugins': () => json([plugin('on', { name: 'On', status: { enabled: true, state: 'running', healthy: true } }), plugin('off')]),
      'GET /api/discovery-failures': () => json([]),
      'GET /api/status': () => json(daemonStatus()),
    });
    render(
      <ToastProvider>
        <RoleProvider value="viewer">
          <PluginsProvider>
            <PluginsPage />
          </PluginsProvider>
        </RoleProvider>
      </ToastProvider>,
    );
    await screen.findByTestId('plugin-card-on');
    for (const id of ['rescan', 'plugin-toggle-on', 'plugin-toggle-off', 'plugin-restart-on']) {
      expect((screen.getByTestId(id) as HTMLButtonElement).disabled, id).toBe(true);
    }
    // Looking is still possible.
    expect((screen.getByTestId('plugin-logs-on') as HTMLButtonElement).disabled).toBe(false);
  });
});
