import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DiscoveryFailure, Plugin } from '../lib/api';
import { PluginsProvider } from '../lib/plugins';
import { basename, rescanSummary } from '../lib/skipped';
import { RoleProvider } from '../lib/role';
import { ToastProvider } from '../lib/toast';
import { apiError, daemonStatus, fakeApi, json, plugin, running } from '../test/fakeApi';
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
    // The table view's switches too.
    await userEvent.click(screen.getByTestId('plugins-view-table'));
    await screen.findByTestId('plugin-row-on');
    for (const id of ['plugin-toggle-on', 'plugin-toggle-off']) {
      expect((screen.getByTestId(id) as HTMLButtonElement).disabled, `table ${id}`).toBe(true);
    }
    localStorage.clear();
  });
});

describe('the plugins table', () => {
  afterEach(() => localStorage.clear());

  /** 60 plugins: every fifth failed, every third running, the rest disabled. */
  function many(): Plugin[] {
    return Array.from({ length: 60 }, (_, i) => {
      const n = String(i + 1).padStart(2, '0');
      const status = i % 5 === 0 ? { enabled: true, state: 'failed' as const } : i % 3 === 0 ? running : {};
      return plugin(`p${n}`, { name: `Plugin ${n}`, description: i % 10 === 7 ? 'Backs up the database' : `Does thing ${n}`, status });
    });
  }

  // Not by role: role queries over hundreds of elements are slow in jsdom.
  const rowIds = () => [...screen.getByTestId('plugin-table').querySelectorAll<HTMLElement>('tbody tr')].map((row) => row.dataset.testid?.replace('plugin-row-', ''));

  it('shows 60 plugins as rows, searches id, name and description, filters by state and sorts, and remembers the choice', async () => {
    fakeApi({
      'GET /api/plugins': () => json(many()),
      'GET /api/discovery-failures': () => json([]),
      'GET /api/status': () => json(daemonStatus()),
    });
    const { unmount } = renderPage();
    await screen.findByTestId('plugin-card-p01');
    const table = screen.getByTestId('plugins-view-table');
    expect(table.textContent).toBe('Table');
    await userEvent.click(table);
    expect(table.getAttribute('aria-pressed')).toBe('true');
    expect(screen.queryByTestId('plugin-list')).toBeNull();
    expect(rowIds()).toHaveLength(60);
    expect(rowIds().slice(0, 3)).toEqual(['p01', 'p02', 'p03']);

    // Search: by description, by id, then words that match nothing.
    const search = screen.getByLabelText('Search');
    // Pasted, not typed: 60 rows rendered again at every key is slow in jsdom.
    const searchFor = async (text: string) => {
      await userEvent.clear(search);
      await userEvent.click(search);
      await userEvent.paste(text);
    };
    await searchFor('database');
    expect(rowIds()).toEqual(['p08', 'p18', 'p28', 'p38', 'p48', 'p58']);
    await searchFor('P4');
    expect(rowIds()).toEqual(['p40', 'p41', 'p42', 'p43', 'p44', 'p45', 'p46', 'p47', 'p48', 'p49']);
    await searchFor('P4 nothing');
    expect(screen.getByTestId('plugins-no-match').textContent).toContain('P4 nothing');
    await userEvent.clear(search);

    // The state filter is the address's ?state=, as the overview's Failed tile sets it.
    await userEvent.selectOptions(screen.getByLabelText('State'), 'failed');
    expect(window.location.search).toBe('?state=failed');
    expect(rowIds()).toEqual(['p01', 'p06', 'p11', 'p16', 'p21', 'p26', 'p31', 'p36', 'p41', 'p46', 'p51', 'p56']);
    expect(screen.getByTestId('plugins-filter').textContent).toContain('12 of 60');
    await userEvent.selectOptions(screen.getByLabelText('State'), '');
    expect(window.location.search).toBe('');

    // Sorting: by name descending, then by state (failed first, then running, then disabled).
    const nameHeader = screen.getByTestId('plugin-table-sort-name').closest('th')!;
    expect(nameHeader.getAttribute('aria-sort')).toBe('ascending');
    await userEvent.click(screen.getByTestId('plugin-table-sort-name'));
    expect(nameHeader.getAttribute('aria-sort')).toBe('descending');
    expect(rowIds()[0]).toBe('p60');
    await userEvent.click(screen.getByTestId('plugin-table-sort-state'));
    const states = within(screen.getByTestId('plugin-table'))
      .getAllByTestId(/^plugin-state-/)
      .map((badge) => badge.dataset.state);
    expect(states.slice(0, 12).every((s) => s === 'failed')).toBe(true);
    expect(states.at(12)).toBe('running');
    expect(states.at(-1)).toBe('disabled');

    // Remembered: the page comes back as a table.
    unmount();
    renderPage();
    expect(await screen.findByTestId('plugin-table')).toBeTruthy();
  }, 15_000); // 60 cards and rows, rendered again and again, are slow in jsdom

  it('opens a running plugin from its row; a disabled one has no Open', async () => {
    fakeApi({
      'GET /api/plugins': () => json([plugin('hello', { name: 'Hello', status: running }), plugin('off', { name: 'Off' })]),
      'GET /api/discovery-failures': () => json([]),
      'GET /api/status': () => json(daemonStatus()),
    });
    localStorage.setItem('toru.plugins.view', 'table');
    renderPage();
    const row = await screen.findByTestId('plugin-row-hello');
    expect(within(screen.getByTestId('plugin-row-off')).queryByRole('link', { name: 'Open Off' })).toBeNull();
    await userEvent.click(within(row).getByRole('link', { name: 'Open Hello' }));
    expect(window.location.pathname).toBe('/plugins/hello');
  });
});
