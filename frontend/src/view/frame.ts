// The frame's half of the view bridge: the one script of `/view-frame.html`, the document every
// plugin's view runs in. It waits for the dashboard's `toru-view-init`, imports the view's module
// from a blob URL, and mounts it with an `api` whose every call is a message to the dashboard.
// Nothing here is trusted: the view's code runs in this same document and can replace any of it.
// The checks that matter are on the dashboard's side (`host.ts`); this half only makes the
// messages look like the browser APIs a view already knows (`fetch`'s `Response`, `AbortError`).
//
// Compiled on its own into a classic script (vite.config.ts): a module script would be fetched
// with CORS from this opaque origin, which the daemon does not allow.

import type { FrameMessage, HeaderList, HostMessage, ViewInit } from './protocol';

/** What `mount` receives: the same members as before views were framed, plus `path`. */
interface ViewApi {
  readonly pluginId: string;
  /** Where the view is below `/plugins/<id>` (`''`, `/settings`…); follows `navigate`. */
  readonly path: string;
  fetch(path: string, init?: RequestInit): Promise<Response>;
  navigate(path: string): void;
  showToast(message: string, kind?: string): void;
}

interface ViewModule {
  mount(container: HTMLElement, api: ViewApi): unknown;
  unmount?(container: HTMLElement): unknown;
}

/** Statuses whose `Response` may not have a body. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

function isInit(data: unknown): data is ViewInit {
  const init = data as ViewInit | null;
  return (
    typeof init === 'object' &&
    init !== null &&
    init.type === 'toru-view-init' &&
    typeof init.pluginId === 'string' &&
    typeof init.bundle === 'string' &&
    typeof init.path === 'string'
  );
}

/** The view's side of the port: sends requests, settles them when the answers come back. */
class Bridge {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(r: Response): void; reject(e: unknown): void }>();
  private path: string;
  private readonly pluginId: string;

  constructor(
    private readonly port: MessagePort,
    init: ViewInit,
    /** What to do when the dashboard shows or hides the view. */
    private readonly lifecycle: { mount(): void; unmount(): void },
  ) {
    this.path = init.path;
    this.pluginId = init.pluginId;
    port.onmessage = (event: MessageEvent<HostMessage>) => this.receive(event.data);
  }

  send(message: FrameMessage, transfer: Transferable[] = []): void {
    this.port.postMessage(message, transfer);
  }

  /** A fresh `api` for one mount. */
  api(): ViewApi {
    // The members are called detached too (`const { fetch } = api`), hence arrows over `bridge`.
    const bridge = this;
    return Object.freeze({
      pluginId: bridge.pluginId,
      get path() {
        return bridge.path;
      },
      fetch: (path: string, init?: RequestInit) => bridge.fetch(path, init),
      navigate: (path: string) => bridge.send({ type: 'navigate', path: String(path ?? '') }),
      showToast: (message: string, kind?: string) =>
        bridge.send({ type: 'toast', message: String(message), kind: String(kind ?? 'info') }),
    });
  }

  private async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    // `Request` normalises the body (string, FormData, Blob…) and headers exactly as `fetch`
    // would, and throws the same errors; its URL is not used, the dashboard resolves `path`.
    const request = new Request(location.href, init);
    const body = request.body ? await request.arrayBuffer() : null;
    const headers: HeaderList = [...request.headers];
    const id = this.nextId++;
    return new Promise<Response>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      signal?.addEventListener(
        'abort',
        () => {
          if (!this.pending.delete(id)) return;
          this.send({ type: 'abort', id });
          reject(signal.reason);
        },
        { once: true },
      );
      this.send({ type: 'fetch', id, path: String(path), method: request.method, headers, body }, body ? [body] : []);
    });
  }

  private receive(message: HostMessage): void {
    if (message.type === 'location') {
      this.path = message.path;
      return;
    }
    if (message.type === 'mount' || message.type === 'unmount') {
      this.lifecycle[message.type]();
      return;
    }
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    if (message.type === 'error') {
      waiting.reject(message.name === 'AbortError' ? new DOMException(message.message, 'AbortError') : new TypeError(message.message));
      return;
    }
    const body = NULL_BODY_STATUSES.has(message.status) ? null : message.body;
    waiting.resolve(new Response(body, { status: message.status, statusText: message.statusText, headers: message.headers }));
  }
}

/** The view in this frame: imported once, then mounted and unmounted as the dashboard shows
 *  and hides it, one step at a time in the order asked, each reported back. */
class View {
  private module: ViewModule | null = null;
  private mounted = false;
  private steps: Promise<void> = Promise.resolve();
  private readonly bridge: Bridge;
  private readonly container = document.createElement('div');

  constructor(
    private readonly init: ViewInit,
    port: MessagePort,
  ) {
    this.bridge = new Bridge(port, init, { mount: () => this.then(() => this.mount()), unmount: () => this.then(() => this.unmount()) });
    this.container.className = 'toru-view';
    this.then(() => this.load());
  }

  private then(step: () => Promise<void>): void {
    this.steps = this.steps.then(step);
  }

  private async load(): Promise<void> {
    const url = URL.createObjectURL(new Blob([this.init.bundle], { type: 'text/javascript' }));
    let module: unknown;
    try {
      module = await import(/* @vite-ignore */ url);
    } catch (error) {
      this.bridge.send({ type: 'failed', stage: 'load', message: messageOf(error) });
      return;
    } finally {
      URL.revokeObjectURL(url);
    }
    if (typeof (module as ViewModule | null)?.mount !== 'function') {
      this.bridge.send({ type: 'failed', stage: 'load', message: 'Its bundle does not export a mount(container, api) function.' });
      return;
    }
    this.module = module as ViewModule;
    document.body.append(this.container);
    new ResizeObserver(() => this.bridge.send({ type: 'resize', height: document.documentElement.offsetHeight })).observe(
      document.documentElement,
    );
    await this.mount();
  }

  private async mount(): Promise<void> {
    if (!this.module || this.mounted) return;
    try {
      this.mounted = true;
      await this.module.mount(this.container, this.bridge.api());
      this.bridge.send({ type: 'mounted' });
    } catch (error) {
      console.error(`plugin ${this.init.pluginId}: mount() failed`, error);
      this.bridge.send({ type: 'failed', stage: 'mount', message: messageOf(error) });
    }
  }

  private async unmount(): Promise<void> {
    if (!this.module || !this.mounted) return;
    this.mounted = false;
    try {
      await this.module.unmount?.(this.container);
    } catch (error) {
      console.error(`plugin ${this.init.pluginId}: unmount() failed`, error);
    }
    // Whatever the view left behind goes too, so the next mount starts clean.
    this.container.replaceChildren();
  }
}

let started = false;
window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const port = event.ports[0];
  if (started || event.source !== window.parent || !port || !isInit(event.data)) return;
  started = true;
  new View(event.data, port);
});
