import { act, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PluginsProvider } from '../lib/plugins';
import { ToastProvider } from '../lib/toast';
import { apiError, fakeApi, json, plugin, running } from '../test/fakeApi';
import type { FrameMessage, HostMessage, ViewInit } from '../view/protocol';
import { PluginViewPage } from './PluginViewPage';

afterEach(() => {
  vi.unstubAllGlobals();
});

const BUNDLE = 'export function mount(el) { el.textContent = "hello view"; }';

function setup(plugins = [plugin('hello', { name: 'Hello', status: running })], extra = {}) {
  return fakeApi({
    'GET /api/plugins': () => json(plugins),
    'GET /api/plugins/hello/bundle.js': () => new Response(BUNDLE, { status: 200, headers: { 'content-type': 'text/javascript' } }),
    ...extra,
  });
}

function renderPage(id = 'hello') {
  return render(
    <ToastProvider>
      <PluginsProvider>
        <PluginViewPage pluginId={id} />
      </PluginsProvider>
    </ToastProvider>,
  );
}

/** Plays the view frame's part: catches the init message the page posts into the frame, and
 *  talks back on its port as `view-frame.js` would. */
async function frameSide() {
  const frame = (await screen.findByTestId('plugin-view-frame')) as HTMLIFrameElement;
  const inits: Array<{ message: ViewInit; port: MessagePort }> = [];
  vi.spyOn(frame.contentWindow!, 'postMessage').mockImplementation(((message: ViewInit, _origin: string, transfer: MessagePort[]) => {
    inits.push({ message, port: transfer[0]! });
  }) as typeof window.postMessage);
  act(() => {
    frame.dispatchEvent(new Event('load'));
  });
  await waitFor(() => expect(inits).toHaveLength(1));
  const { message, port } = inits[0]!;
  const received: HostMessage[] = [];
  port.onmessage = (event: MessageEvent<HostMessage>) => received.push(event.data);
  return {
    frame,
    init: message,
    received,
    send: (m: FrameMessage) => act(() => port.postMessage(m)),
  };
}

describe('PluginViewPage', () => {
  it('shows an error panel with the daemon’s reason when the bundle does not load', async () => {
    setup(undefined, {
      'GET /api/plugins/hello/bundle.js': () => apiError(404, 'not_found', 'plugin hello has no frontend bundle'),
    });
    renderPage();
    const panel = await screen.findByTestId('plugin-view-error');
    expect(panel.getAttribute('role')).toBe('alert');
    expect(panel.textContent).toContain('could not be loaded');
    expect(screen.getByTestId('plugin-view-error-message').textContent).toBe('plugin hello has no frontend bundle (HTTP 404)');
    expect(screen.getByTestId('plugin-view-container').hidden).toBe(true);
    expect(screen.queryByTestId('plugin-view-frame')).toBeNull();
  });

  it('runs the view in a sandboxed frame without the dashboard’s origin, and shows it once mounted', async () => {
    setup();
    renderPage();
    const side = await frameSide();
    expect(side.frame.getAttribute('sandbox')).toBe('allow-scripts allow-forms');
    expect(side.frame.getAttribute('sandbox')).not.toContain('allow-same-origin');
    expect(side.frame.getAttribute('src')).toBe('/view-frame.html');
    expect(side.init).toEqual({ type: 'toru-view-init', pluginId: 'hello', bundle: BUNDLE, path: '' });
    expect(screen.getByTestId('plugin-view-container').hidden).toBe(true);
    side.send({ type: 'mounted' });
    await waitFor(() => expect(screen.getByTestId('plugin-view-container').hidden).toBe(false));
    side.send({ type: 'resize', height: 420.2 });
    await waitFor(() => expect(side.frame.style.height).toBe('421px'));
  });

  it('answers the view’s requests on its own routes only, and its toasts and navigation', async () => {
    const fetch = setup(undefined, { 'GET /api/plugins/hello/route/counter': () => json({ count: 7 }) });
    renderPage();
    const side = await frameSide();
    side.send({ type: 'mounted' });
    side.send({ type: 'fetch', id: 1, path: '/counter', method: 'GET', headers: [], body: null });
    side.send({ type: 'fetch', id: 2, path: '/../../../users', method: 'GET', headers: [], body: null });
    await waitFor(() => expect(side.received).toHaveLength(2));
    const byId = Object.fromEntries(side.received.map((m) => ['id' in m ? m.id : 0, m]));
    const ok = byId[1] as Extract<HostMessage, { type: 'response' }>;
    expect(ok.status).toBe(200);
    expect(JSON.parse(new TextDecoder().decode(ok.body))).toEqual({ count: 7 });
    expect(byId[2]).toMatchObject({ type: 'error', name: 'TypeError' });
    expect(fetch.mock.calls.map(([url]) => String(url))).not.toContain('/api/users');

    side.send({ type: 'toast', message: 'Saved', kind: 'success' });
    expect((await screen.findByTestId('toast-success')).textContent).toContain('Hello: Saved');
    side.send({ type: 'navigate', path: '/settings' });
    await waitFor(() => expect(window.location.pathname).toBe('/plugins/hello/settings'));
    await waitFor(() => expect(side.received.at(-1)).toEqual({ type: 'location', path: '/settings' }));
  });

  it('shows an error panel when mount() fails in the frame, and Retry starts a fresh frame', async () => {
    setup();
    renderPage();
    const first = await frameSide();
    first.send({ type: 'failed', stage: 'mount', message: 'mount exploded' });
    const panel = await screen.findByTestId('plugin-view-error');
    expect(panel.textContent).toContain('failed to start');
    expect(panel.textContent).toContain('mount exploded');
    expect(screen.queryByTestId('plugin-view-frame')).toBeNull();

    await userEvent.click(screen.getByRole('button', { name: 'Retry' }));
    const second = await frameSide();
    expect(second.frame).not.toBe(first.frame);
    second.send({ type: 'mounted' });
    await waitFor(() => expect(screen.queryByTestId('plugin-view-error')).toBeNull());
  });

  it('takes the error panel away by itself once the plugin runs again and its view loads', async () => {
    // The bundle is asked for while the plugin is (still listed as) running but has just died,
    // so the daemon cannot answer it; then the plugin is restarted and runs again.
    // A version of its own: the page keeps the bundles it has fetched, by version.
    let current = plugin('hello', { name: 'Hello', version: '1.1.0', status: running });
    let up = false;
    setup(undefined, {
      'GET /api/plugins': () => json([current]),
      'GET /api/plugins/hello/bundle.js': () =>
        up
          ? new Response(BUNDLE, { status: 200, headers: { 'content-type': 'text/javascript' } })
          : apiError(503, 'plugin_not_running', 'plugin hello is not running'),
    });
    renderPage();
    expect((await screen.findByTestId('plugin-view-error')).textContent).toContain('plugin hello is not running');

    current = plugin('hello', { name: 'Hello', version: '1.1.0', status: { enabled: true, state: 'backoff', pid: null, restarts: 1 } });
    await waitFor(() => expect(screen.getByTestId('plugin-view-state').dataset.state).toBe('backoff'), { timeout: 4000 });
    up = true;
    current = plugin('hello', { name: 'Hello', version: '1.1.0', status: { ...running, pid: 43, restarts: 1 } });
    await waitFor(() => expect(screen.queryByTestId('plugin-view-error')).toBeNull(), { timeout: 4000 });
    const side = await frameSide();
    side.send({ type: 'mounted' });
    await waitFor(() => expect(screen.getByTestId('plugin-view-container').hidden).toBe(false));
  }, 15_000);

  it('restarts the plugin from its page, the button disabled until it runs again, keeping the view’s frame', async () => {
    let current = plugin('hello', { name: 'Hello', status: running });
    let polls = 0;
    const fetch = setup(undefined, {
      'GET /api/plugins': () => json([current]),
      'POST /api/plugins/hello/restart': () => {
        current = plugin('hello', { name: 'Hello', status: { enabled: true, state: 'starting', pid: null } });
        return json(current);
      },
      'GET /api/plugins/hello': () => {
        if (++polls >= 2) current = plugin('hello', { name: 'Hello', status: { ...running, pid: 43 } });
        return json({ ...current, unit_name: null, events: [] });
      },
    });
    renderPage();
    const { frame } = await frameSide();
    const restart = screen.getByRole('button', { name: 'Restart Hello' }) as HTMLButtonElement;
    await userEvent.click(restart);
    expect(fetch.mock.calls.filter(([, init]) => init?.method === 'POST').map(([url]) => String(url))).toEqual(['/api/plugins/hello/restart']);
    expect(restart.disabled).toBe(true);
    await waitFor(() => expect(restart.disabled).toBe(false), { timeout: 4000 });
    expect(current.status.pid).toBe(43);
    expect((await screen.findByTestId('toast-success')).textContent).toContain('Hello restarted');
    expect(screen.getByTestId('plugin-view-frame')).toBe(frame);
  });

  it('offers to enable a disabled plugin instead of loading its view', async () => {
    const fetch = setup([plugin('hello', { name: 'Hello' })]);
    renderPage();
    expect((await screen.findByTestId('plugin-view-disabled')).textContent).toContain('Hello is disabled');
    expect(screen.getByRole('button', { name: 'Enable Hello' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Restart Hello' })).toBeNull();
    expect(fetch.mock.calls.map(([url]) => String(url)).filter((url) => url.includes('bundle.js'))).toEqual([]);
  });

  it('waits for a starting plugin', async () => {
    const fetch = setup([plugin('hello', { name: 'Hello', status: { enabled: true, state: 'starting' } })]);
    renderPage();
    expect((await screen.findByTestId('plugin-view-starting')).textContent).toContain('Starting Hello');
    expect(fetch.mock.calls.map(([url]) => String(url)).filter((url) => url.includes('bundle.js'))).toEqual([]);
  });

  it('says when there is no such plugin', async () => {
    setup([]);
    renderPage('ghost');
    expect((await screen.findByTestId('plugin-view-missing')).textContent).toContain('ghost');
  });
});
