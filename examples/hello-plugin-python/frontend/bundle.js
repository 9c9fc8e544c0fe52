// hello-python's dashboard view: a greeting and a counter kept in the plugin's KV store.
//
// The dashboard runs this ES module in a sandboxed frame of its own and calls
// mount(container, api) / unmount(container) there (docs/frontend-api.md). api.fetch(path, init)
// reaches only the plugin's routes (api.fetch('/counter') reaches the plugin's GET /counter) and
// returns a standard Response. Everything this view creates lives under one root element with
// ROOT_CLASS, and every CSS rule is prefixed with it; unmount removes the element and aborts
// listeners and requests, so the next mount in the same frame starts clean.

const ROOT_CLASS = 'toru-hello-python';

const CSS = `
.${ROOT_CLASS} {
  font: inherit;
  color: inherit;
  display: grid;
  gap: 1rem;
  max-width: 32rem;
}
.${ROOT_CLASS} .hp-greeting { margin: 0; font-size: 1.25rem; }
.${ROOT_CLASS} .hp-counter { display: flex; align-items: center; gap: 0.75rem; flex-wrap: wrap; }
.${ROOT_CLASS} .hp-value {
  min-width: 3ch;
  font-size: 2rem;
  font-variant-numeric: tabular-nums;
  text-align: center;
}
.${ROOT_CLASS} .hp-button {
  font: inherit;
  padding: 0.4rem 1rem;
  border-radius: 0.375rem;
  border: 1px solid currentColor;
  background: transparent;
  color: inherit;
  cursor: pointer;
}
.${ROOT_CLASS} .hp-button:focus-visible { outline: 2px solid currentColor; outline-offset: 2px; }
.${ROOT_CLASS} .hp-button:disabled { opacity: 0.5; cursor: default; }
.${ROOT_CLASS} .hp-error { margin: 0; color: #b91c1c; }
`;

/** Per-container state, so several mounts (or a remount) never share anything. */
const mounted = new WeakMap();

/** Creates an element with a class and text; small helper to keep mount() readable. */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Calls the plugin and returns its JSON, throwing a readable Error on any failure. */
async function call(api, path, init, signal) {
  const response = await api.fetch(path, { ...init, signal });
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: fall through to the status check.
  }
  if (!response.ok) {
    const message = body && body.error && body.error.message;
    throw new Error(message || `${path} failed with HTTP ${response.status}`);
  }
  return body;
}

export function mount(container, api) {
  unmount(container); // mounting twice must not leave a second copy behind
  const controller = new AbortController();
  const { signal } = controller;

  const root = el('section', ROOT_CLASS);
  root.setAttribute('aria-label', 'Hello (Python)');
  const style = el('style', '', CSS);
  const greeting = el('p', 'hp-greeting', 'Loading…');
  const counter = el('div', 'hp-counter');
  const label = el('span', 'hp-label', 'Counter:');
  const value = el('output', 'hp-value', '…');
  value.id = `hp-value-${Math.random().toString(36).slice(2)}`;
  value.dataset.testid = 'counter-value';
  value.setAttribute('aria-live', 'polite');
  label.id = `${value.id}-label`;
  value.setAttribute('aria-labelledby', label.id);
  const increment = el('button', 'hp-button', 'Increment');
  increment.type = 'button';
  increment.dataset.testid = 'increment';
  const reset = el('button', 'hp-button', 'Reset');
  reset.type = 'button';
  reset.dataset.testid = 'reset';
  const problem = el('p', 'hp-error');
  problem.setAttribute('role', 'alert');
  problem.hidden = true;

  counter.append(label, value, increment, reset);
  root.append(style, greeting, counter, problem);
  container.append(root);
  mounted.set(container, { root, controller });

  const buttons = [increment, reset];
  const setBusy = (busy) => {
    for (const button of buttons) button.disabled = busy;
    root.setAttribute('aria-busy', String(busy));
  };
  const show = (count) => {
    value.textContent = String(count);
  };
  const fail = (error) => {
    if (signal.aborted || error.name === 'AbortError') return; // unmounted meanwhile
    problem.textContent = error.message;
    problem.hidden = false;
    api.showToast(error.message, 'error');
  };
  // Runs one action with the buttons disabled; ignores results that arrive after unmount.
  const act = async (work) => {
    setBusy(true);
    problem.hidden = true;
    try {
      await work();
    } catch (error) {
      fail(error);
    } finally {
      if (!signal.aborted) setBusy(false);
    }
  };

  increment.addEventListener(
    'click',
    () =>
      act(async () => {
        const { count } = await call(api, '/counter/increment', { method: 'POST' }, signal);
        if (!signal.aborted) show(count);
      }),
    { signal },
  );
  reset.addEventListener(
    'click',
    () =>
      act(async () => {
        const { count } = await call(api, '/counter/reset', { method: 'POST' }, signal);
        if (signal.aborted) return;
        show(count);
        api.showToast('Counter reset', 'success');
      }),
    { signal },
  );

  // First load: the buttons stay disabled until the current count is shown.
  act(async () => {
    const [hello, current] = await Promise.all([
      call(api, '/greeting', {}, signal),
      call(api, '/counter', {}, signal),
    ]);
    if (signal.aborted) return;
    greeting.textContent = hello.message;
    show(current.count);
  });
}

export function unmount(container) {
  const state = mounted.get(container);
  if (!state) return;
  mounted.delete(container);
  state.controller.abort(); // removes the listeners and cancels requests still in flight
  state.root.remove();
}
