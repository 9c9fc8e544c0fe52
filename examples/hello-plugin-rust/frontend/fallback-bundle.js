// Embedded by build.rs instead of dist/bundle.js when the React frontend has not been built, so
// the crate always compiles (CI builds the workspace before any npm step). It keeps the
// dashboard's contract — mount(container, api) / unmount(container) — and says how to fix it.

const mounted = new WeakMap();

export function mount(container) {
  unmount(container);
  const note = container.ownerDocument.createElement('p');
  note.className = 'toru-hello-rust-fallback';
  note.setAttribute('role', 'status');
  note.textContent =
    "This plugin's view was not built: run examples/hello-plugin-rust/build.sh";
  container.append(note);
  mounted.set(container, note);
}

export function unmount(container) {
  const note = mounted.get(container);
  if (!note) return;
  mounted.delete(container);
  note.remove();
}
