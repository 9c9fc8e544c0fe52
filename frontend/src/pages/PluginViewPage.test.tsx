import { act, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PluginsProvider } from '../lib/plugins';
import { ToastProvider } from '../lib/toast';
import { apiError, fakeApi, json, plugin, running } from '../test/fakeApi';
import { PluginViewPage, type Importer, type PluginApi } from './PluginViewPage';

afterEach(() => {
  vi.unstubAllGlobals();
});

function setup(plugins = [plugin('hello', { name: 'Hello', status: running })], extra = {}) {
  return fakeApi({
    'GET /api/plugins': () => json(plugins),
    'GET /api/plugins/hello/bundle.js': () => new Response('export {}', { status: 200, headers: { 'content-type': 'text/javascript' } }),
    ...extra,
  });
}

function renderPage(importer: Importer, id = 'hello') {
  return render(
    <ToastProvider>
      <PluginsProvider>
        <PluginViewPage pluginId={id} importer={importer} />
      </PluginsProvider>
    </ToastProvider>,
  );
}

describe('PluginViewPage', () => {
  it('shows an error panel with the daemon’s reason when the bundle does not load', async () => {
    setup(undefined, {
      'GET /api/plugins/hello/bundle.js': () => apiError(404, 'not_found', 'plugin hello has no frontend bundle'),
    });
    const importer = vi.fn<Importer>(async () => {
      throw new TypeError('Failed to fetch dynamically imported module');
    });
    renderPage(importer);
    const panel = await screen.findByTestId('plugin-view-error');
    expect(panel.getAttribute('role')).toBe('alert');
    expect(panel.textContent).toContain('could not be loaded');
    expect(screen.getByTestId('plugin-view-error-message').textContent).toBe('plugin hello has no frontend bundle (HTTP 404)');
    expect(screen.getByTestId('plugin-view-container').hidden).toBe(true);
    expect(importer.mock.calls[0]![0]).toMatch(/^\/api\/plugins\/hello\/bundle\.js\?v=1\.0\.0/);
  });

  it('falls back to the browser’s message when the bundle is there but broken', async () => {
    setup();
    renderPage(async () => {
      throw new SyntaxError("Unexpected token '{'");
    });
    expect((await screen.findByTestId('plugin-view-error-message')).textContent).toBe("Unexpected token '{'");
  });

  it('shows an error panel when mount() throws, and Retry loads a fresh copy', async () => {
    setup();
    const good = { mount: vi.fn((el: HTMLElement) => el.append('mounted!')), unmount: vi.fn() };
    const importer = vi
      .fn<Importer>()
      .mockResolvedValueOnce({
        mount() {
          throw new Error('mount exploded');
        },
      })
      .mockResolvedValueOnce(good);
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    renderPage(importer);
    const panel = await screen.findByTestId('plugin-view-error');
    expect(panel.textContent).toContain('failed to start');
    expect(panel.textContent).toContain('mount exploded');

    await userEvent.click(screen.getByRole('button', { name: 'Retry' }));
    await waitFor(() => expect(screen.getByTestId('plugin-view-container').textContent).toBe('mounted!'));
    expect(screen.queryByTestId('plugin-view-error')).toBeNull();
    expect(screen.getByTestId('plugin-view-container').hidden).toBe(false);
    const [first, second] = importer.mock.calls.map((c) => c[0]);
    expect(second).not.toBe(first);
  });

  it('says so when the module has no mount()', async () => {
    setup();
    renderPage(async () => ({ default: 42 }));
    expect((await screen.findByTestId('plugin-view-error-message')).textContent).toContain('does not export a mount');
  });

  it('mounts with a scoped API and unmounts when the page goes away', async () => {
    const fetch = setup(undefined, {
      'GET /api/plugins/hello/route/counter': () => json({ count: 7 }),
    });
    let api: PluginApi | null = null;
    let mountedIn: HTMLElement | null = null;
    const module = {
      mount: vi.fn((el: HTMLElement, given: PluginApi) => {
        mountedIn = el;
        api = given;
        const p = document.createElement('p');
        p.textContent = 'hello view';
        el.append(p);
      }),
      unmount: vi.fn((el: HTMLElement) => el.replaceChildren()),
    };
    const { unmount } = renderPage(async () => module);
    expect(await screen.findByText('hello view')).toBeTruthy();
    expect(mountedIn).toBe(screen.getByTestId('plugin-view-container'));
    expect(api!.pluginId).toBe('hello');

    const response = await api!.fetch('/counter');
    expect(await response.json()).toEqual({ count: 7 });
    expect(fetch.mock.calls.some(([url]) => url === '/api/plugins/hello/route/counter')).toBe(true);

    act(() => api!.showToast('Saved', 'success'));
    expect((await screen.findByTestId('toast-success')).textContent).toContain('Saved');

    act(() => api!.navigate('/settings'));
    expect(window.location.pathname).toBe('/plugins/hello/settings');

    const container = mountedIn!;
    unmount();
    expect(module.unmount).toHaveBeenCalledWith(container);
    expect(module.mount).toHaveBeenCalledTimes(1);
  });

  it('offers to enable a disabled plugin instead of loading its view', async () => {
    setup([plugin('hello', { name: 'Hello' })]);
    const importer = vi.fn<Importer>();
    renderPage(importer);
    expect((await screen.findByTestId('plugin-view-disabled')).textContent).toContain('Hello is disabled');
    expect(screen.getByRole('button', { name: 'Enable Hello' })).toBeTruthy();
    expect(importer).not.toHaveBeenCalled();
  });

  it('waits for a starting plugin', async () => {
    setup([plugin('hello', { name: 'Hello', status: { enabled: true, state: 'starting' } })]);
    const importer = vi.fn<Importer>();
    renderPage(importer);
    expect((await screen.findByTestId('plugin-view-starting')).textContent).toContain('Starting Hello');
    expect(importer).not.toHaveBeenCalled();
  });

  it('says when there is no such plugin', async () => {
    setup([]);
    renderPage(vi.fn<Importer>(), 'ghost');
    expect((await screen.findByTestId('plugin-view-missing')).textContent).toContain('ghost');
  });
});
