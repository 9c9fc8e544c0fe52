import { describe, expect, it, vi } from 'vitest';
import { pluginRouteUrl, viewAddress, viewPath, ViewHost, type HostActions } from './host';
import type { HostMessage } from './protocol';

const ORIGIN = 'http://127.0.0.1:7070';

describe('pluginRouteUrl', () => {
  it('puts a view’s path below its plugin’s routes, query included', () => {
    expect(pluginRouteUrl('notes', '/list?limit=5', ORIGIN)?.href).toBe(`${ORIGIN}/api/plugins/notes/route/list?limit=5`);
    expect(pluginRouteUrl('notes', 'list', ORIGIN)?.pathname).toBe('/api/plugins/notes/route/list');
    expect(pluginRouteUrl('notes', '', ORIGIN)?.pathname).toBe('/api/plugins/notes/route');
    expect(pluginRouteUrl('notes', '?q=1', ORIGIN)?.search).toBe('?q=1');
  });

  it.each([
    '/../../../users',
    '/../../other/route/secret',
    '/%2e%2e/%2e%2e/%2e%2e/users',
    '/.%2E/.%2e/%2E./users',
    '\\..\\..\\..\\users',
    '/..\\..\\..\\users',
    '/./../../../auth/me',
    '..',
    '/..',
  ])('refuses %s, which the browser would resolve outside the plugin’s routes', (path) => {
    expect(pluginRouteUrl('notes', path, ORIGIN)).toBeNull();
  });

  it('keeps an encoded slash as the plugin’s own business: it stays below its routes', () => {
    expect(pluginRouteUrl('notes', '/..%2f..%2fusers', ORIGIN)?.pathname).toBe('/api/plugins/notes/route/..%2f..%2fusers');
  });

  it('keeps what looks like another origin a path below the routes, and refuses what is not a string', () => {
    expect(pluginRouteUrl('notes', '//evil.example/x', ORIGIN)?.href).toBe(`${ORIGIN}/api/plugins/notes/route//evil.example/x`);
    expect(pluginRouteUrl('notes', 'http://evil.example/', ORIGIN)?.href).toBe(`${ORIGIN}/api/plugins/notes/route/http://evil.example/`);
    for (const path of [42, null, undefined, { toString: () => '/x' }]) expect(pluginRouteUrl('notes', path, ORIGIN)).toBeNull();
  });

  it('encodes the plugin id, so an id cannot add path segments', () => {
    expect(pluginRouteUrl('a/../b', '/x', ORIGIN)?.pathname).toBe('/api/plugins/a%2F..%2Fb/route/x');
  });
});

describe('viewAddress and viewPath', () => {
  it('keeps navigation inside the view’s own pages', () => {
    expect(viewAddress('notes', '/settings', ORIGIN)).toBe('/plugins/notes/settings');
    expect(viewAddress('notes', '/', ORIGIN)).toBe('/plugins/notes');
    expect(viewAddress('notes', '', ORIGIN)).toBe('/plugins/notes');
    expect(viewAddress('notes', '/a?b=1#c', ORIGIN)).toBe('/plugins/notes/a?b=1#c');
    expect(viewAddress('notes', '/../../status', ORIGIN)).toBeNull();
    expect(viewAddress('notes', '/../notesX', ORIGIN)).toBeNull();
  });

  it('answers where a dashboard address is below the view', () => {
    expect(viewPath('notes', '/plugins/notes')).toBe('');
    expect(viewPath('notes', '/plugins/notes/settings')).toBe('/settings');
    expect(viewPath('notes', '/status')).toBe('');
    expect(viewPath('notes', '/plugins/notesX/a')).toBe('');
  });
});

function host(overrides: Partial<HostActions> = {}) {
  const posted: HostMessage[] = [];
  const actions: HostActions = {
    fetch: vi.fn(async () => new Response('{"ok":true}', { status: 200, headers: { 'x-a': '1' } })),
    navigate: vi.fn(),
    toast: vi.fn(),
    settled: vi.fn(),
    resize: vi.fn(),
    ...overrides,
  };
  const port = { postMessage: vi.fn((m: HostMessage) => posted.push(m)), close: vi.fn() };
  return { view: new ViewHost(port, 'notes', actions, ORIGIN), actions, posted, port };
}

describe('ViewHost', () => {
  it('fetches on the plugin’s route with the session, refusing redirects, and hands the answer back', async () => {
    const { view, actions, posted } = host();
    const body = new TextEncoder().encode('hi').buffer;
    view.receive({ type: 'fetch', id: 1, path: '/notes', method: 'POST', headers: [['content-type', 'text/plain']], body });
    await vi.waitFor(() => expect(posted).toHaveLength(1));
    const [url, init] = vi.mocked(actions.fetch).mock.calls[0]!;
    expect(url).toBe('/api/plugins/notes/route/notes');
    expect(init).toMatchObject({ method: 'POST', credentials: 'same-origin', redirect: 'error', headers: [['content-type', 'text/plain']] });
    expect(posted[0]).toMatchObject({ type: 'response', id: 1, status: 200, headers: [['content-type', 'text/plain;charset=UTF-8'], ['x-a', '1']] });
    expect(new TextDecoder().decode((posted[0] as Extract<HostMessage, { type: 'response' }>).body)).toBe('{"ok":true}');
  });

  it('refuses a path outside the plugin’s routes without making any request', async () => {
    const { view, actions, posted } = host();
    view.receive({ type: 'fetch', id: 2, path: '/../../../users', method: 'GET', headers: [], body: null });
    await vi.waitFor(() => expect(posted).toHaveLength(1));
    expect(posted[0]).toMatchObject({ type: 'error', id: 2, name: 'TypeError' });
    expect(actions.fetch).not.toHaveBeenCalled();
  });

  it('turns a failed fetch into a TypeError and an aborted one into an AbortError', async () => {
    let release: (r: Response) => void = () => undefined;
    const { view, posted } = host({
      fetch: vi.fn(
        (url: string, init: RequestInit) =>
          new Promise<Response>((resolve, reject) => {
            if (url.endsWith('/fails')) reject(new TypeError('Failed to fetch'));
            release = resolve;
            init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
          }),
      ),
    });
    view.receive({ type: 'fetch', id: 3, path: '/fails', method: 'GET', headers: [], body: null });
    view.receive({ type: 'fetch', id: 4, path: '/slow', method: 'GET', headers: [], body: null });
    view.receive({ type: 'abort', id: 4 });
    await vi.waitFor(() => expect(posted).toHaveLength(2));
    expect(posted).toContainEqual({ type: 'error', id: 3, name: 'TypeError', message: 'Failed to fetch' });
    expect(posted).toContainEqual({ type: 'error', id: 4, name: 'AbortError', message: 'The request was aborted.' });
    release(new Response('late'));
  });

  it('drops malformed messages, caps toasts and heights, and settles once per mount', () => {
    const { view, actions } = host();
    for (const junk of [null, 'fetch', 42, { type: 'nonsense' }, { type: 'toast', message: 7 }, { type: 'resize', height: 'tall' }]) {
      view.receive(junk);
    }
    expect(actions.toast).not.toHaveBeenCalled();
    expect(actions.resize).not.toHaveBeenCalled();
    view.receive({ type: 'toast', message: 'x'.repeat(2000), kind: 'shout' });
    expect(actions.toast).toHaveBeenCalledWith('x'.repeat(500), 'info');
    view.receive({ type: 'resize', height: 1e9 });
    view.receive({ type: 'resize', height: 3 });
    expect(vi.mocked(actions.resize).mock.calls).toEqual([[100_000], [160]]);
    view.receive({ type: 'navigate', path: '/../../status' });
    expect(actions.navigate).not.toHaveBeenCalled();
    view.receive({ type: 'mounted' });
    view.receive({ type: 'failed', stage: 'mount', message: 'late' });
    expect(vi.mocked(actions.settled).mock.calls).toEqual([[{ ok: true }]]);
  });

  it('ignores a hidden view’s navigation and toasts', () => {
    const { view, actions } = host();
    view.hide();
    view.receive({ type: 'navigate', path: '/settings' });
    view.receive({ type: 'toast', message: 'Your session expired: log in again', kind: 'error' });
    expect(actions.navigate).not.toHaveBeenCalled();
    expect(actions.toast).not.toHaveBeenCalled();
    view.show();
    view.receive({ type: 'navigate', path: '/settings' });
    expect(actions.navigate).toHaveBeenCalledWith('/plugins/notes/settings');
  });

  it('unmounts the view when hidden and mounts it again when shown, settling each mount', () => {
    const { view, actions, posted } = host();
    view.receive({ type: 'mounted' });
    view.show(); // already shown: nothing to do
    view.hide();
    view.hide();
    view.show();
    expect(posted).toEqual([{ type: 'unmount' }, { type: 'mount' }]);
    view.receive({ type: 'failed', stage: 'mount', message: 'second mount exploded' });
    expect(vi.mocked(actions.settled).mock.calls).toEqual([
      [{ ok: true }],
      [{ ok: false, stage: 'mount', message: 'second mount exploded' }],
    ]);
  });

  it('after close, aborts what is in flight and answers nothing', async () => {
    const signals: AbortSignal[] = [];
    const { view, posted, port } = host({
      fetch: vi.fn((_url: string, init: RequestInit) => {
        signals.push(init.signal!);
        return new Promise<Response>(() => undefined);
      }),
    });
    view.receive({ type: 'fetch', id: 5, path: '/slow', method: 'GET', headers: [], body: null });
    await vi.waitFor(() => expect(signals).toHaveLength(1));
    view.close();
    expect(signals[0]!.aborted).toBe(true);
    expect(port.close).toHaveBeenCalled();
    view.receive({ type: 'fetch', id: 6, path: '/x', method: 'GET', headers: [], body: null });
    expect(posted).toEqual([]);
  });
});

describe('ViewHost under a flood', () => {
  it('runs 4 requests at a time, queues 256 more, refuses the rest, and aborts queued ones', async () => {
    const releases: Array<() => void> = [];
    const { view, actions, posted } = host({
      fetch: vi.fn(() => new Promise<Response>((resolve) => releases.push(() => resolve(new Response('ok'))))),
    });
    for (let id = 1; id <= 300; id++) view.receive({ type: 'fetch', id, path: `/x${id}`, method: 'GET', headers: [], body: null });
    await vi.waitFor(() => expect(actions.fetch).toHaveBeenCalledTimes(4));
    // 4 in flight + 256 waiting; 40 refused at once.
    const refused = posted.filter((m) => m.type === 'error' && /waiting/.test(m.message));
    expect(refused).toHaveLength(40);
    view.receive({ type: 'abort', id: 5 });
    expect(posted.at(-1)).toEqual({ type: 'error', id: 5, name: 'AbortError', message: 'The request was aborted.' });
    releases[0]!();
    await vi.waitFor(() => expect(actions.fetch).toHaveBeenCalledTimes(5));
    // The next still waiting starts: 5 was aborted, so 6.
    expect(vi.mocked(actions.fetch).mock.calls[4]![0]).toBe('/api/plugins/notes/route/x6');
    await vi.waitFor(() => expect(posted.some((m) => m.type === 'response' && m.id === 1)).toBe(true));
    releases.forEach((release) => release());
  });
});
