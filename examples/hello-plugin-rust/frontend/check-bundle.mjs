// Checks that a built bundle is what the dashboard can load: one self-contained ES module (no
// imports left, nothing that only exists in Node), exporting mount(container, api) and
// unmount(container), which render the view into a container and take it away again.
//
// Usage: node check-bundle.mjs [BUNDLE...]    (default: dist/bundle.js)
// Run by `npm run build`; also works on fallback-bundle.js. Uses jsdom for the DOM.

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { JSDOM } from 'jsdom';

const here = import.meta.dirname;
const bundles = process.argv.slice(2);
if (bundles.length === 0) bundles.push('dist/bundle.js');

// A browser-like global scope: the bundle must run with what a page gives it, nothing more.
const dom = new JSDOM('<!doctype html><html><body></body></html>', { url: 'https://toru.invalid/' });
for (const name of ['window', 'document', 'navigator', 'HTMLElement', 'Element', 'Node', 'Event',
  'MouseEvent', 'HTMLIFrameElement', 'MutationObserver', 'getComputedStyle']) {
  Object.defineProperty(globalThis, name, {
    value: name === 'window' ? dom.window : dom.window[name],
    configurable: true,
    writable: true,
  });
}

function fail(bundle, message) {
  console.error(`check-bundle: ${bundle}: ${message}`);
  process.exitCode = 1;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, check, ms = 2000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

for (const arg of bundles) {
  const path = resolve(here, arg);
  const source = await readFile(path, 'utf8');
  // A bare import would need the page to resolve it: everything must be inside the file.
  if (/(^|[;}\s])import\s*[\w{*"'(]/.test(source.replace(/\bimport\.meta\b/g, ''))) {
    fail(arg, 'still imports another module; the bundle must be self-contained');
  }
  if (/\bprocess\.env\b/.test(source)) fail(arg, 'refers to process.env, which a browser lacks');

  const module = await import(pathToFileURL(path).href);
  const exported = Object.keys(module).sort().join(', ');
  if (typeof module.mount !== 'function' || typeof module.unmount !== 'function') {
    fail(arg, `must export functions mount and unmount; exports: ${exported || 'nothing'}`);
    continue;
  }

  // Mount it for real with a fake plugin behind api.fetch, then unmount it.
  const container = document.createElement('div');
  document.body.append(container);
  const calls = [];
  const api = {
    pluginId: 'hello-rust',
    path: '',
    navigate() {},
    showToast() {},
    async fetch(p, init = {}) {
      calls.push(`${init.method ?? 'GET'} ${p}`);
      const body = p === '/greeting' ? { message: 'Hello, check!' } : { count: 7 };
      return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
    },
  };
  try {
    module.mount(container, api);
    await waitFor('the view to render', () => container.textContent.trim() !== '');
    await sleep(50);
    if (calls.length > 0) {
      // The real view: it must show what the plugin answered (the fallback fetches nothing).
      await waitFor(
        'the counter value from GET /counter',
        () => container.querySelector('[data-testid="counter-value"]')?.textContent === '7',
      );
    }
    module.unmount(container);
    await sleep(0);
    if (container.childNodes.length !== 0) fail(arg, 'unmount left nodes behind');
    const size = Buffer.byteLength(source);
    console.log(`check-bundle: ${arg} ok (${size} bytes; exports ${exported}; fetched ${calls.join(', ') || 'nothing'})`);
  } catch (e) {
    fail(arg, `mount/unmount failed: ${e.stack ?? e}`);
  } finally {
    container.remove();
  }
}
