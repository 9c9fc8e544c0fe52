// The hostile plugin's dashboard view, for the e2e suite only: on mount it tries, one after the
// other, everything a view should NOT be able to do from its sandboxed frame (the admin API, other
// plugins' routes, the dashboard's DOM, cookies and address, popups, forged bridge messages), and
// shows each attempt as
//
//   <li data-testid="attack-NAME" data-outcome="blocked|succeeded|unknown">what it saw</li>
//
// then `<p data-testid="attacks-done">`. `succeeded` means the attacker got through; `unknown`
// means the view cannot tell from inside (a write it cannot read the answer of), and the test
// judges it from the dashboard with the admin's own session. The positive control `own-route`
// shows `allowed` when the view reaches its own plugin's route. The button `attack-form`, clicked
// by the test, submits a real form to the admin API; it comes last because it replaces the
// frame's document (unless the frame's CSP refuses the form). The button `arm-hidden-attack`
// makes the view, once the dashboard hides it but keeps its frame, try to navigate the dashboard
// back to itself and show a toast posing as the dashboard's.

/** Anything the admin API would leak: the user list's entries have a `username`. */
const ADMIN_DATA = /"username"/;

/** How long a forged message may take to be answered before it counts as ignored (ms). */
const ANSWER_WAIT_MS = 500;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `TypeError: Failed to fetch`, the way an error reads in the list. */
function describe(error) {
  return error instanceof Error || error instanceof DOMException ? `${error.name}: ${error.message}` : String(error);
}

/** Runs one attempt, `step`, which answers `{ outcome, detail }`; a throw (the browser or the
 *  bridge refusing) counts as blocked. */
async function attempt(step) {
  try {
    return await step();
  } catch (error) {
    return { outcome: 'blocked', detail: `threw ${describe(error)}` };
  }
}

/** The worst of several outcomes: one success is a success, then unknown, then blocked. */
function worst(results) {
  const rank = { succeeded: 2, unknown: 1, blocked: 0 };
  const outcome = results.reduce((acc, r) => (rank[r.outcome] > rank[acc] ? r.outcome : acc), 'blocked');
  return { outcome, detail: results.map((r) => r.detail).join(' | ') };
}

/** A direct `fetch` from the frame: blocked unless it hands back readable data matching `leak`. */
async function directRead(url, leak) {
  return attempt(async () => {
    const response = await fetch(url, { credentials: 'include' });
    const text = await response.text();
    return {
      outcome: response.ok && leak.test(text) ? 'succeeded' : 'blocked',
      detail: `${url}: HTTP ${response.status} (${response.type}) ${text.slice(0, 80)}`,
    };
  });
}

/** An `api.fetch` that must not leave the plugin's own routes: blocked when it rejects, or when
 *  the answer is this plugin's own 404 (which names the path that reached it). */
async function bridgeRead(api, path) {
  return attempt(async () => {
    const response = await api.fetch(path);
    const text = await response.text();
    let reached = null;
    try {
      reached = JSON.parse(text).path ?? null;
    } catch {
      // Not this plugin's JSON.
    }
    if (ADMIN_DATA.test(text) || (response.ok && reached === null)) {
      return { outcome: 'succeeded', detail: `${path}: HTTP ${response.status} ${text.slice(0, 80)}` };
    }
    if (reached !== null) return { outcome: 'blocked', detail: `${path}: reached only this plugin's own route ${reached} (HTTP ${response.status})` };
    return { outcome: 'blocked', detail: `${path}: stayed below this plugin's routes, where the daemon answered HTTP ${response.status} ${text.slice(0, 100)}` };
  });
}

/** Waits briefly for messages on `target` that answer `id`; answers what came. */
async function answersTo(target, id) {
  const seen = [];
  const listener = (event) => {
    if (event.data && event.data.id === id) seen.push(event.data);
  };
  target.addEventListener('message', listener);
  await sleep(ANSWER_WAIT_MS);
  target.removeEventListener('message', listener);
  return seen;
}

/** Judges the answers a forged fetch got: any response carrying admin data is a success. */
function judgeAnswers(what, answers) {
  const leaked = answers.some((a) => a.type === 'response' && ADMIN_DATA.test(new TextDecoder().decode(a.body)));
  const summary = answers.length ? answers.map((a) => (a.type === 'error' ? `${a.name}: ${a.message}` : `${a.type} ${a.status}`)).join(', ') : 'no answer';
  return { outcome: leaked ? 'succeeded' : 'blocked', detail: `${what}: ${summary}` };
}

/** A fetch message as the frame's own script would send it. */
const forgedFetch = (id, path) => ({ type: 'fetch', id, path, method: 'GET', headers: [], body: null });

const attacks = {
  'admin-api-direct': () => directRead('/api/users', ADMIN_DATA),

  // A write the frame cannot read the answer of (no-cors): the test checks hello-python is
  // still enabled.
  'admin-write-direct': () =>
    attempt(async () => {
      const response = await fetch('/api/plugins/hello-python/disable', { method: 'POST', credentials: 'include', mode: 'no-cors' });
      return { outcome: 'unknown', detail: `sent; answer ${response.type}, status ${response.status} (the test checks hello-python)` };
    }),

  traversal: async (api) =>
    worst(
      await Promise.all(
        ['/../../../users', '/%2e%2e/%2e%2e/%2e%2e/users', '\\..\\..\\..\\users', '/..%2f..%2f..%2fusers', '//evil.example/x', 'http://evil.example/'].map((path) =>
          bridgeRead(api, path),
        ),
      ),
    ),

  'other-plugin': async (api) =>
    worst([await bridgeRead(api, '/../../hello-python/route/counter'), await directRead('/api/plugins/hello-python/route/counter', /"count"/)]),

  redirect: (api) =>
    attempt(async () => {
      try {
        const response = await api.fetch('/redirect');
        const text = await response.text();
        return { outcome: 'succeeded', detail: `resolved: HTTP ${response.status} ${text.slice(0, 80)}` };
      } catch (error) {
        return { outcome: error instanceof TypeError ? 'blocked' : 'succeeded', detail: `rejected with ${describe(error)}` };
      }
    }),

  'forged-bridge': async (api) => {
    // The bridge's own port, caught as `api.fetch` uses it.
    let port = null;
    const postMessage = MessagePort.prototype.postMessage;
    MessagePort.prototype.postMessage = function (...args) {
      port ??= this;
      return postMessage.apply(this, args);
    };
    try {
      await api.fetch('/own');
    } finally {
      MessagePort.prototype.postMessage = postMessage;
    }
    const results = [];
    if (!port) {
      results.push({ outcome: 'unknown', detail: 'could not catch the bridge port' });
    } else {
      for (const [id, path] of [
        [99999, '/../../../users'],
        [99998, '/../../hello-python/route/counter'],
      ]) {
        const answered = answersTo(port, id);
        port.postMessage(forgedFetch(id, path));
        results.push(judgeAnswers(`port fetch ${path}`, await answered));
      }
    }
    // The dashboard's window itself, and a second bridge the view would make up.
    const fromParent = answersTo(window, 99997);
    window.parent.postMessage(forgedFetch(99997, '/../../../users'), '*');
    results.push(judgeAnswers('window.parent fetch', await fromParent));
    const channel = new MessageChannel();
    channel.port1.start();
    window.parent.postMessage({ type: 'toru-view-init', pluginId: 'hello-python', bundle: '', path: '' }, '*', [channel.port2]);
    const onOwnChannel = answersTo(channel.port1, 99996);
    channel.port1.postMessage(forgedFetch(99996, '/counter'));
    results.push(judgeAnswers('forged toru-view-init to the parent, then fetch', await onOwnChannel));
    channel.port1.close();
    return worst(results);
  },

  'parent-dom': async () => {
    const results = [];
    results.push(
      await attempt(() => {
        const title = window.parent.document.title;
        return { outcome: 'succeeded', detail: `read the parent's document: ${title}` };
      }),
    );
    results.push(
      await attempt(() => ({ outcome: 'succeeded', detail: `read the top's address: ${window.top.location.href}` })),
    );
    // Were this to work, the dashboard would leave the view's page: the test checks its URL.
    results.push(
      await attempt(() => {
        window.top.location = '/api/users';
        return { outcome: 'unknown', detail: 'setting top.location did not throw' };
      }),
    );
    return worst(results);
  },

  cookies: async () => {
    const results = [];
    results.push(
      await attempt(() => {
        const cookies = document.cookie;
        return { outcome: cookies ? 'succeeded' : 'blocked', detail: `document.cookie = ${JSON.stringify(cookies)}` };
      }),
    );
    results.push(await attempt(() => ({ outcome: 'succeeded', detail: `localStorage has ${window.localStorage.length} keys` })));
    results.push(
      await attempt(
        () =>
          new Promise((resolve) => {
            const request = indexedDB.open('toru-hostile');
            request.onsuccess = () => resolve({ outcome: 'succeeded', detail: 'indexedDB opened' });
            request.onerror = () => resolve({ outcome: 'blocked', detail: `indexedDB: ${describe(request.error)}` });
          }),
      ),
    );
    return worst(results);
  },

  popup: () =>
    attempt(() => {
      const opened = window.open('/api/users');
      return { outcome: opened ? 'succeeded' : 'blocked', detail: `window.open answered ${opened === null ? 'null' : 'a window'}` };
    }),

  // Were this to work, the dashboard would go to /status and take this frame down: the test
  // checks the address too.
  navigate: async (api) => {
    api.navigate('/../../status');
    await sleep(ANSWER_WAIT_MS);
    return { outcome: api.path === '' ? 'blocked' : 'succeeded', detail: `after navigate('/../../status') the view's path is ${JSON.stringify(api.path)}` };
  },

  'own-route': (api) =>
    attempt(async () => {
      const response = await api.fetch('/own');
      const body = await response.json();
      return { outcome: response.status === 200 && body.ok === true ? 'allowed' : 'failed', detail: `HTTP ${response.status} ${JSON.stringify(body)}` };
    }),
};

/** Submits a real form to the admin API from this frame, replacing its document: JSON smuggled
 *  through a text/plain body, the classic way to forge a JSON POST from a form. Where the
 *  frame's CSP refuses it (`form-action 'none'`), the document stays and says so in
 *  `attack-form-refused`; either way the test judges the outcome from the user list. */
function submitForm() {
  document.addEventListener('securitypolicyviolation', (event) => {
    if (!event.effectiveDirective.startsWith('form-action')) return;
    const refused = document.createElement('p');
    refused.dataset.testid = 'attack-form-refused';
    refused.textContent = `The form was refused: ${event.effectiveDirective} ${event.originalPolicy.match(/form-action[^;]*/)?.[0] ?? ''}`;
    document.body.append(refused);
  });
  const form = document.createElement('form');
  form.method = 'post';
  form.action = '/api/users';
  form.enctype = 'text/plain';
  form.target = '_self';
  const field = document.createElement('input');
  field.type = 'hidden';
  field.name = '{"username":"mallory","password":"';
  field.value = 'correct horse battery staple"}';
  form.append(field);
  document.body.append(form);
  form.submit();
}

/** Set by the `arm-hidden-attack` button: the next `unmount` (the dashboard hiding the view while
 *  keeping its frame) tries to pull the admin back and to show a toast that looks like the
 *  dashboard's own. Opt-in, so that leaving the page in other steps stays quiet. */
let armed = null;

export async function mount(container, api) {
  // An exception nothing catches, thrown in the frame: the dashboard must not count it as its own.
  setTimeout(() => {
    throw new Error('hostile view: an uncaught error in its own frame');
  });
  const list = document.createElement('ul');
  list.dataset.testid = 'attacks';
  container.append(list);
  for (const [name, run] of Object.entries(attacks)) {
    const { outcome, detail } = await run(api);
    const item = document.createElement('li');
    item.dataset.testid = `attack-${name}`;
    item.dataset.outcome = outcome;
    item.textContent = `${name}: ${outcome} — ${detail}`;
    list.append(item);
  }
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.testid = 'attack-form';
  button.textContent = 'Submit a form to /api/users';
  button.addEventListener('click', submitForm);
  const arm = document.createElement('button');
  arm.type = 'button';
  arm.dataset.testid = 'arm-hidden-attack';
  arm.textContent = 'Attack once hidden';
  arm.addEventListener('click', () => {
    armed = api;
    arm.textContent = 'Armed';
  });
  const done = document.createElement('p');
  done.dataset.testid = 'attacks-done';
  done.textContent = 'All attacks tried.';
  container.append(button, arm, done);
}

export function unmount(container) {
  container.replaceChildren();
  const api = armed;
  armed = null;
  if (!api) return;
  // The frame's code runs on after `unmount`: nothing but the dashboard can stop it.
  api.navigate('');
  api.showToast('Your session has expired. Log in again at http://evil.example/login', 'error');
  // The bridge answers in order, so once this fetch settles the dashboard has handled both.
  const attempted = () => {
    const marker = document.createElement('p');
    marker.dataset.testid = 'hidden-attack-made';
    document.body.append(marker);
  };
  api.fetch('/own').then(attempted, attempted);
}
