// The dashboard's half of the view bridge, where a view's reach is decided: every message from a
// plugin's frame is checked here, and the only requests made on its behalf go to its own
// plugin's routes (`/api/plugins/<id>/route/…`), with the admin's session, never following a
// redirect. The frame itself has no cookie and no network (see `protocol.ts`), so what this file
// refuses, the view cannot do.

import type { ToastKind } from '../lib/toast';
import type { FrameMessage, HeaderList, HostMessage, ViewInit } from './protocol';

/** Where a plugin's routes are: `/api/plugins/<id>/route`. */
function routePrefix(pluginId: string): string {
  return `/api/plugins/${encodeURIComponent(pluginId)}/route`;
}

/** Where a plugin's view is in the dashboard: `/plugins/<id>`. */
function viewPrefix(pluginId: string): string {
  return `/plugins/${encodeURIComponent(pluginId)}`;
}

/** Resolves `path` (as a view wrote it) below `prefix` the way the browser will, and answers the
 *  resulting URL only if it is still below `prefix` on this origin: `/../../users`,
 *  `/%2e%2e/users` and `\..\users` are all resolved by the URL parser before the check. */
function within(prefix: string, path: unknown, origin: string): URL | null {
  if (typeof path !== 'string') return null;
  const rest = path === '' || /^[/?#]/.test(path) ? path : `/${path}`;
  let url: URL;
  try {
    url = new URL(prefix + rest, origin);
  } catch {
    return null;
  }
  const inside = url.pathname === prefix || url.pathname.startsWith(`${prefix}/`);
  return url.origin === origin && inside ? url : null;
}

/** The URL a view's `api.fetch(path)` reaches, or `null` when `path` leaves the plugin's routes. */
export function pluginRouteUrl(pluginId: string, path: unknown, origin = window.location.origin): URL | null {
  return within(routePrefix(pluginId), path, origin);
}

/** The dashboard address a view's `api.navigate(path)` goes to, or `null` when `path` leaves the
 *  view's own pages. */
export function viewAddress(pluginId: string, path: unknown, origin = window.location.origin): string | null {
  const url = within(viewPrefix(pluginId), path === '/' ? '' : path, origin);
  return url ? url.pathname + url.search + url.hash : null;
}

/** The part of a dashboard address below the view's prefix (`/plugins/x/settings` → `/settings`). */
export function viewPath(pluginId: string, pathname: string): string {
  const prefix = viewPrefix(pluginId);
  return pathname.startsWith(`${prefix}/`) ? pathname.slice(prefix.length) : '';
}

const TOAST_KINDS: ReadonlySet<string> = new Set<ToastKind>(['info', 'success', 'warning', 'error']);

/** The longest toast a view may show; the rest is cut. */
const TOAST_MAX_CHARS = 500;

/** Requests one view may have in flight; the rest wait their turn, so that a view that floods
 *  cannot hold every connection the browser gives the dashboard (six per host over HTTP/1.1). */
const MAX_IN_FLIGHT = 4;

/** Requests that may wait for a turn; past that, a request is refused at once. */
const MAX_WAITING = 256;

type FetchMessage = Extract<FrameMessage, { type: 'fetch' }>;

/** The frame's height stays within these (px): the view's own minimum, and a sane maximum. */
const MIN_HEIGHT = 160;
const MAX_HEIGHT = 100_000;

/** What the dashboard does for a view; the page supplies it (and tests their stand-ins). */
export interface HostActions {
  /** Makes a request (the browser's `fetch`, with the session). */
  fetch(url: string, init: RequestInit): Promise<Response>;
  navigate(address: string): void;
  toast(message: string, kind: ToastKind): void;
  /** The view mounted, or failed to load or mount: once for the init and once per `show`. */
  settled(outcome: { ok: true } | { ok: false; stage: 'load' | 'mount'; message: string }): void;
  resize(height: number): void;
}

/** One mounted view's bridge: answers its frame's messages until `close`. */
export class ViewHost {
  private readonly inFlight = new Map<number, AbortController>();
  private readonly waiting: Array<{ message: FetchMessage; url: URL }> = [];
  /** A mount was asked (the init's, or `show`'s) and not yet answered. */
  private awaitingMount = true;
  /** Whether the view should be mounted: the init mounts it, `hide` unmounts it. */
  private shown = true;
  private closed = false;

  constructor(
    private readonly port: Pick<MessagePort, 'postMessage' | 'close'>,
    private readonly pluginId: string,
    private readonly actions: HostActions,
    private readonly origin = window.location.origin,
  ) {}

  /** Handles one message from the frame; anything malformed is dropped. */
  receive(data: unknown): void {
    if (this.closed || typeof data !== 'object' || data === null) return;
    const message = data as FrameMessage;
    switch (message.type) {
      case 'fetch':
        this.enqueue(message);
        return;
      case 'abort': {
        this.inFlight.get(message.id)?.abort();
        const queued = this.waiting.findIndex((w) => w.message.id === message.id);
        if (queued >= 0) {
          this.waiting.splice(queued, 1);
          this.post({ type: 'error', id: message.id, name: 'AbortError', message: 'The request was aborted.' });
        }
        return;
      }
      case 'navigate': {
        // A hidden view (its page left) cannot pull the user back, nor speak as the dashboard.
        if (!this.shown) return;
        const address = viewAddress(this.pluginId, message.path, this.origin);
        if (address !== null) this.actions.navigate(address);
        else console.warn(`plugin ${this.pluginId}: navigate(${JSON.stringify(message.path)}) leaves its view; ignored`);
        return;
      }
      case 'toast':
        if (!this.shown || typeof message.message !== 'string') return;
        this.actions.toast(
          message.message.slice(0, TOAST_MAX_CHARS),
          (TOAST_KINDS.has(message.kind) ? message.kind : 'info') as ToastKind,
        );
        return;
      case 'resize':
        if (Number.isFinite(message.height)) this.actions.resize(Math.min(MAX_HEIGHT, Math.max(MIN_HEIGHT, Math.ceil(message.height))));
        return;
      case 'mounted':
      case 'failed':
        if (!this.awaitingMount) return;
        this.awaitingMount = false;
        this.actions.settled(
          message.type === 'mounted'
            ? { ok: true }
            : { ok: false, stage: message.stage === 'mount' ? 'mount' : 'load', message: String(message.message) },
        );
        return;
    }
  }

  /** Mounts the view again when the user comes back to its page; answered through `settled`. */
  show(): void {
    if (this.shown) return;
    this.shown = true;
    this.awaitingMount = true;
    this.post({ type: 'mount' });
  }

  /** Unmounts the view when the user leaves its page; the frame and its module stay. */
  hide(): void {
    if (!this.shown) return;
    this.shown = false;
    this.post({ type: 'unmount' });
  }

  /** Tells the view where it is now. */
  setPath(path: string): void {
    this.post({ type: 'location', path });
  }

  /** Ends the bridge: requests in flight are aborted and their answers dropped. */
  close(): void {
    this.closed = true;
    for (const controller of this.inFlight.values()) controller.abort();
    this.inFlight.clear();
    this.waiting.length = 0;
    this.port.close();
  }

  private post(message: HostMessage, transfer: Transferable[] = []): void {
    if (!this.closed) this.port.postMessage(message, transfer);
  }

  /** Refuses a request outside the plugin's routes; starts the others, or queues them behind
   *  the ones in flight. */
  private enqueue(message: FetchMessage): void {
    const { id } = message;
    if (!Number.isSafeInteger(id) || this.inFlight.has(id) || this.waiting.some((w) => w.message.id === id)) return;
    const url = pluginRouteUrl(this.pluginId, message.path, this.origin);
    if (!url) {
      this.post({ type: 'error', id, name: 'TypeError', message: `${JSON.stringify(message.path)} is not a path of plugin ${this.pluginId}'s routes` });
    } else if (this.inFlight.size < MAX_IN_FLIGHT) {
      void this.fetch(message, url);
    } else if (this.waiting.length < MAX_WAITING) {
      this.waiting.push({ message, url });
    } else {
      this.post({ type: 'error', id, name: 'TypeError', message: `more than ${MAX_WAITING} requests are waiting` });
    }
  }

  private async fetch(message: FetchMessage, url: URL): Promise<void> {
    const { id } = message;
    const controller = new AbortController();
    this.inFlight.set(id, controller);
    try {
      const response = await this.actions.fetch(url.pathname + url.search, {
        method: message.method,
        headers: message.headers,
        body: message.body,
        signal: controller.signal,
        // Set here whatever the view asked: its session is the admin's, so it goes only where
        // checked above, and a plugin answering 302 to `/api/users` gets an error, not the list.
        credentials: 'same-origin',
        redirect: 'error',
      });
      const body = await response.arrayBuffer();
      const headers: HeaderList = [...response.headers];
      this.post({ type: 'response', id, status: response.status, statusText: response.statusText, headers, body }, [body]);
    } catch (error) {
      const aborted = controller.signal.aborted;
      this.post({
        type: 'error',
        id,
        name: aborted ? 'AbortError' : 'TypeError',
        message: aborted ? 'The request was aborted.' : error instanceof Error ? error.message : String(error),
      });
    } finally {
      this.inFlight.delete(id);
      const next = this.waiting.shift();
      if (next && !this.closed) void this.fetch(next.message, next.url);
    }
  }
}

/** Hands a loaded frame its view: the init message and the port the bridge answers on. */
export function connectFrame(frame: HTMLIFrameElement, init: Omit<ViewInit, 'type'>, actions: HostActions): ViewHost {
  const channel = new MessageChannel();
  const host = new ViewHost(channel.port1, init.pluginId, actions);
  channel.port1.onmessage = (event) => host.receive(event.data);
  const message: ViewInit = { type: 'toru-view-init', ...init };
  // '*': a sandboxed frame's origin is opaque, so no origin names it; the port is the channel.
  frame.contentWindow?.postMessage(message, '*', [channel.port2]);
  return host;
}
