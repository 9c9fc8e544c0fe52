// The module the dashboard runs in the view's sandboxed frame: mount(container, api) renders the
// view into container, unmount(container) takes it away again. Each container gets its own React root, so several
// mounts (or a remount) share nothing.

import { type Root, createRoot } from 'react-dom/client';
import css from './styles.css?inline';
import { HelloView } from './HelloView';
import type { ToruApi } from './api';

/** The class every CSS rule of this view is scoped under. */
const ROOT_CLASS = 'toru-hello-rust';

const mounted = new WeakMap<Element, { root: Root; host: HTMLElement }>();

export function mount(container: Element, api: ToruApi): void {
  unmount(container); // mounting twice must not leave a second copy behind
  const doc = container.ownerDocument;
  const host = doc.createElement('div');
  host.className = ROOT_CLASS;
  const style = doc.createElement('style');
  style.textContent = css;
  const app = doc.createElement('div');
  host.append(style, app);
  container.append(host);
  const root = createRoot(app);
  root.render(<HelloView api={api} />);
  mounted.set(container, { root, host });
}

export function unmount(container: Element): void {
  const state = mounted.get(container);
  if (!state) return;
  mounted.delete(container);
  state.root.unmount(); // runs the view's cleanup, which aborts its requests
  state.host.remove();
}
