// The messages between the dashboard and a plugin's view frame. The frame is an
// `<iframe sandbox="allow-scripts allow-forms">` with an opaque origin: it holds no cookie and
// may not fetch anything itself (its CSP has `connect-src 'none'`), so everything the view does
// outside its own document goes through these messages, and the dashboard decides what each one
// may do. The frame's script (`frame.ts`) imports only the types from here: it is compiled on its
// own, without a bundler, into `/view-frame.js`.

/** The path of the frame's document, one static page for every plugin. */
export const VIEW_FRAME_PATH = '/view-frame.html';

/** The iframe's `sandbox`: scripts and form events, but not the dashboard's origin, popups or
 *  top-level navigation. */
export const VIEW_FRAME_SANDBOX = 'allow-scripts allow-forms';

/** The first message, posted to the frame's window with the port every later message uses. The
 *  frame accepts one, and only from its parent. */
export interface ViewInit {
  type: 'toru-view-init';
  pluginId: string;
  /** The view's ES module, as the daemon served it. */
  bundle: string;
  /** Where the view is, below `/plugins/<id>` (`''` or `/settings`…). */
  path: string;
}

/** A header list as `Headers` iterates it. */
export type HeaderList = Array<[string, string]>;

/** What the frame asks of the dashboard. */
export type FrameMessage =
  | {
      type: 'fetch';
      id: number;
      /** Below the plugin's routes, as the view wrote it; the dashboard checks it. */
      path: string;
      method: string;
      headers: HeaderList;
      body: ArrayBuffer | null;
    }
  | { type: 'abort'; id: number }
  | { type: 'navigate'; path: string }
  | { type: 'toast'; message: string; kind: string }
  /** The view's document grew or shrank: the frame's height follows its content. */
  | { type: 'resize'; height: number }
  /** The answer to the init's mount, and to every `mount` after it. */
  | { type: 'mounted' }
  | { type: 'failed'; stage: 'load' | 'mount'; message: string };

/** What the dashboard answers, or tells the frame unasked. */
export type HostMessage =
  | { type: 'response'; id: number; status: number; statusText: string; headers: HeaderList; body: ArrayBuffer }
  /** `api.fetch` rejects: `name` is `AbortError` or `TypeError`, as `fetch` would. */
  | { type: 'error'; id: number; name: 'AbortError' | 'TypeError'; message: string }
  | { type: 'location'; path: string }
  /** The dashboard hides the view (the user left its page) or shows it again: the frame calls
   *  the view's `unmount` or `mount`, and answers a mount with `mounted` or `failed`. */
  | { type: 'unmount' }
  | { type: 'mount' };
