// The view as the dashboard drives it: mount(container, api) with a stubbed api.fetch.

import { act } from 'react';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ToruApi } from './api';
import { mount, unmount } from './main';

beforeAll(() => {
  // Tell React this is a test environment, so act() flushes renders and effects.
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
});

type Handler = (init: RequestInit) => Response | Promise<Response>;

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

/** An api whose fetch answers `METHOD /path` from `routes`, 404 otherwise. */
function fakeApi(routes: Record<string, Handler>) {
  const fetch = vi.fn(async (path: string, init: RequestInit = {}) => {
    const handler = routes[`${init.method ?? 'GET'} ${path}`];
    return handler ? handler(init) : json({ error: { code: 'not_found', message: 'nope' } }, 404);
  });
  const showToast = vi.fn();
  const api: ToruApi = { fetch, showToast, navigate: vi.fn(), pluginId: 'hello-rust', path: '' };
  return { api, fetch, showToast };
}

/** A plugin with a working counter starting at `start`. */
function counterPlugin(start = 0) {
  let count = start;
  return fakeApi({
    'GET /greeting': () => json({ message: 'Hello, ada!' }),
    'GET /counter': () => json({ count }),
    'POST /counter/increment': () => json({ count: ++count }),
    'POST /counter/reset': () => json({ count: (count = 0) }),
  });
}

const containers: HTMLElement[] = [];

async function mounted(api: ToruApi): Promise<HTMLElement> {
  const container = document.createElement('div');
  document.body.append(container);
  containers.push(container);
  await act(async () => mount(container, api));
  return container;
}

afterEach(async () => {
  for (const c of containers.splice(0)) {
    await act(async () => unmount(c));
    c.remove();
  }
});

/** Retries `check` (inside act, so React's updates land) until it passes or 2 s pass. */
async function waitFor(check: () => void): Promise<void> {
  const deadline = Date.now() + 2000;
  for (;;) {
    try {
      check();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await act(() => new Promise((r) => setTimeout(r, 5)));
    }
  }
}

const byTestId = (root: ParentNode, id: string) =>
  root.querySelector<HTMLElement>(`[data-testid="${id}"]`);

async function click(el: HTMLElement | null) {
  expect(el).not.toBeNull();
  await act(async () => el!.click());
}

describe('hello-rust view', () => {
  it('shows a loading state, then the greeting and the counter', async () => {
    let answer!: () => void;
    const gate = new Promise<void>((r) => (answer = r));
    const { api } = fakeApi({
      'GET /greeting': async () => (await gate, json({ message: 'Hello, ada!' })),
      'GET /counter': async () => (await gate, json({ count: 41 })),
    });
    const c = await mounted(api);
    expect(byTestId(c, 'loading')?.textContent).toBe('Loading…');
    expect(byTestId(c, 'counter-value')).toBeNull();

    answer();
    await waitFor(() => expect(byTestId(c, 'counter-value')?.textContent).toBe('41'));
    expect(byTestId(c, 'greeting')?.textContent).toBe('Hello, ada!');
    expect(byTestId(c, 'loading')).toBeNull();
  });

  it('increments: clicking shows the count the plugin answered', async () => {
    const { api, fetch } = counterPlugin(4);
    const c = await mounted(api);
    await waitFor(() => expect(byTestId(c, 'counter-value')?.textContent).toBe('4'));

    await click(byTestId(c, 'increment'));
    await waitFor(() => expect(byTestId(c, 'counter-value')?.textContent).toBe('5'));
    await click(byTestId(c, 'increment'));
    await waitFor(() => expect(byTestId(c, 'counter-value')?.textContent).toBe('6'));

    const posts = fetch.mock.calls.filter(([, init]) => init?.method === 'POST');
    expect(posts.map(([path]) => path)).toEqual(['/counter/increment', '/counter/increment']);
    expect(byTestId(c, 'increment')?.hasAttribute('disabled')).toBe(false);
  });

  it('disables the buttons while a request is in flight', async () => {
    let release!: () => void;
    const { api } = fakeApi({
      'GET /greeting': () => json({ message: 'hi' }),
      'GET /counter': () => json({ count: 0 }),
      'POST /counter/increment': () =>
        new Promise<Response>((r) => (release = () => r(json({ count: 1 })))),
    });
    const c = await mounted(api);
    await waitFor(() => expect(byTestId(c, 'counter-value')?.textContent).toBe('0'));
    await click(byTestId(c, 'increment'));
    expect(byTestId(c, 'increment')?.hasAttribute('disabled')).toBe(true);
    expect(byTestId(c, 'reset')?.hasAttribute('disabled')).toBe(true);
    await act(async () => release());
    await waitFor(() => expect(byTestId(c, 'counter-value')?.textContent).toBe('1'));
    expect(byTestId(c, 'increment')?.hasAttribute('disabled')).toBe(false);
  });

  it('resets and confirms with a success toast', async () => {
    const { api, showToast } = counterPlugin(9);
    const c = await mounted(api);
    await waitFor(() => expect(byTestId(c, 'counter-value')?.textContent).toBe('9'));

    await click(byTestId(c, 'reset'));
    await waitFor(() => expect(byTestId(c, 'counter-value')?.textContent).toBe('0'));
    expect(showToast).toHaveBeenCalledWith('Counter reset', 'success');
  });

  it('shows an error, not a blank view, when the first load fails; retry recovers', async () => {
    let up = false;
    const { api, showToast } = fakeApi({
      'GET /greeting': () => json({ message: 'Hello again' }),
      'GET /counter': () =>
        up
          ? json({ count: 3 })
          : json({ error: { code: 'unavailable', message: 'not connected to the daemon' } }, 503),
    });
    const c = await mounted(api);
    await waitFor(() =>
      expect(byTestId(c, 'error')?.textContent).toContain('not connected to the daemon'),
    );
    expect(c.textContent).toContain('Could not load the counter.');
    expect(byTestId(c, 'error')?.getAttribute('role')).toBe('alert');
    expect(byTestId(c, 'counter-value')).toBeNull();
    expect(showToast).toHaveBeenCalledWith('not connected to the daemon', 'error');

    up = true;
    await click(byTestId(c, 'retry'));
    await waitFor(() => expect(byTestId(c, 'counter-value')?.textContent).toBe('3'));
    expect(byTestId(c, 'error')).toBeNull();
  });

  it('reports a network failure and a non-JSON error with readable messages', async () => {
    const { api } = fakeApi({
      'GET /greeting': () => Promise.reject(new TypeError('Failed to fetch')),
      'GET /counter': () => json({ count: 0 }),
    });
    const c = await mounted(api);
    await waitFor(() => expect(byTestId(c, 'error')?.textContent).toContain('Failed to fetch'));

    const broken = fakeApi({
      'GET /greeting': () => json({ message: 'hi' }),
      'GET /counter': () => new Response('<html>bad gateway</html>', { status: 502 }),
    });
    const c2 = await mounted(broken.api);
    await waitFor(() =>
      expect(byTestId(c2, 'error')?.textContent).toContain('/counter failed with HTTP 502'),
    );
  });

  it('keeps the counter and shows the error when an increment fails', async () => {
    const { api, showToast } = fakeApi({
      'GET /greeting': () => json({ message: 'hi' }),
      'GET /counter': () => json({ count: 2 }),
      'POST /counter/increment': () =>
        json({ error: { code: 'kv_failed', message: 'kv operation failed: disk full' } }, 500),
    });
    const c = await mounted(api);
    await waitFor(() => expect(byTestId(c, 'counter-value')?.textContent).toBe('2'));
    await click(byTestId(c, 'increment'));
    await waitFor(() => expect(byTestId(c, 'error')?.textContent).toContain('disk full'));
    expect(byTestId(c, 'counter-value')?.textContent).toBe('2');
    expect(showToast).toHaveBeenCalledWith('kv operation failed: disk full', 'error');
    expect(byTestId(c, 'increment')?.hasAttribute('disabled')).toBe(false);
  });

  it('injects its stylesheet inside the container, every rule scoped to its root class', async () => {
    const { api } = counterPlugin();
    const c = await mounted(api);
    const root = c.firstElementChild as HTMLElement;
    expect(root.className).toBe('toru-hello-rust');
    const style = root.querySelector('style');
    expect(style).not.toBeNull();
    expect(document.head.querySelector('style')).toBeNull();
    const css = style!.textContent ?? '';
    const selectors = [...css.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/([^{}]+)\{[^{}]*\}/g)]
      .flatMap((m) => m[1].split(','))
      .map((s) => s.trim());
    expect(selectors.length).toBeGreaterThan(3);
    for (const selector of selectors) expect(selector).toMatch(/^\.toru-hello-rust(\s|$|:)/);
  });

  it('unmount removes everything, aborts requests in flight and ignores their answers', async () => {
    let release!: () => void;
    const signals: (AbortSignal | null | undefined)[] = [];
    const { api, showToast } = fakeApi({
      'GET /greeting': (init) => {
        signals.push(init.signal);
        return new Promise<Response>((r) => (release = () => r(json({ message: 'late' }))));
      },
      'GET /counter': () => json({ count: 1 }),
    });
    const errors = vi.spyOn(console, 'error');
    const c = await mounted(api);
    expect(c.childElementCount).toBe(1);

    await act(async () => unmount(c));
    expect(c.childNodes.length).toBe(0);
    expect(signals[0]?.aborted).toBe(true);

    await act(async () => release());
    await act(() => new Promise((r) => setTimeout(r, 10)));
    expect(c.childNodes.length).toBe(0);
    expect(showToast).not.toHaveBeenCalled();
    expect(errors).not.toHaveBeenCalled();

    unmount(c); // a second unmount is a no-op
  });

  it('mounting twice in one container leaves one copy; containers are independent', async () => {
    const a = counterPlugin(1);
    const b = counterPlugin(100);
    const c = await mounted(a.api);
    await act(async () => mount(c, a.api));
    const other = await mounted(b.api);
    await waitFor(() => {
      expect(c.querySelectorAll('[data-testid="counter-value"]')).toHaveLength(1);
      expect(byTestId(c, 'counter-value')?.textContent).toBe('1');
      expect(byTestId(other, 'counter-value')?.textContent).toBe('100');
    });
    await act(async () => unmount(c));
    expect(byTestId(other, 'counter-value')?.textContent).toBe('100');
  });
});
