// Plugin settings in the dashboard, end to end: on hello-rust's page the Settings form (generated
// from the greeting the plugin declares) saves a new greeting, which the plugin answers with after
// the restart the change causes, and its view shows it; a value the schema refuses shows the daemon's reason next to the
// field and changes nothing; the page with its form passes axe-core. Run after the other steps:
//
//   steps.push(...settingsSteps(session));
//
// where `session` gives the run's current `page` and `daemon` (getters) and its `eventually`.

import AxeBuilder from '@axe-core/playwright';
import { USER } from './harness.mjs';

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * @param {{ readonly page: import('playwright-core').Page, readonly daemon: { url: string },
 *           eventually: (probe: () => unknown, what: string, timeout?: number) => Promise<any> }} session
 * @returns {[name: string, description: string, run: () => Promise<void>][]}
 */
export function settingsSteps(session) {
  const byTestId = (id) => session.page.getByTestId(id);

  /** A same-origin request from the page, with its session: status and parsed JSON. */
  const pageJson = (path, init = {}) =>
    session.page.evaluate(
      async ([p, i]) => {
        const r = await fetch(p, { credentials: 'same-origin', ...i });
        const text = await r.text();
        return { status: r.status, body: text ? JSON.parse(text) : null };
      },
      [path, init],
    );

  /** hello-rust's page, logged in as the administrator, with its Settings form loaded. */
  async function openHelloRust() {
    const page = session.page;
    await page.goto(`${session.daemon.url}/plugins/hello-rust`);
    if (await byTestId('login-username').isVisible()) {
      await byTestId('login-username').fill(USER.username);
      await byTestId('login-password').fill(USER.password);
      await byTestId('login-submit').click();
    }
    await byTestId('plugin-settings').waitFor({ state: 'visible' });
    const plugin = await pageJson('/api/plugins/hello-rust');
    if (!plugin.body.status.enabled) {
      await pageJson('/api/plugins/hello-rust/enable', { method: 'POST' });
    }
    await session.eventually(
      async () => (await pageJson('/api/plugins/hello-rust')).body.status.state === 'running',
      'hello-rust runs',
    );
  }

  async function saveGreeting(text) {
    await byTestId('setting-greeting').fill(text);
    await byTestId('settings-save').click();
  }

  return [
    [
      'settings-save-greeting',
      'hello-rust’s Settings form saves a new greeting; after its restart the plugin greets with it',
      async () => {
        await openHelloRust();
        const label = await session.page.locator('label', { hasText: 'Greeting' }).count();
        assert(label === 1, 'the form labels the field with the schema’s title');
        const placeholder = await byTestId('setting-greeting').getAttribute('placeholder');
        assert(placeholder === 'Hello', `the default shows as the placeholder, not ${placeholder}`);
        await saveGreeting('Ahoy');
        await byTestId('settings-notice').waitFor({ state: 'visible' });
        const notice = (await byTestId('settings-notice').textContent()) ?? '';
        assert(notice.startsWith('Saved.'), `the form says ${notice}`);
        await session.eventually(async () => {
          const answer = await pageJson('/api/plugins/hello-rust/route/greeting');
          return answer.status === 200 && String(answer.body.message).startsWith('Ahoy, ');
        }, 'hello-rust greets with Ahoy');
        // The view asks the plugin for its greeting when it mounts: a fresh page shows the new one.
        await session.page.reload();
        const shown = session.page.frameLocator('iframe[data-testid="plugin-view-frame"]:visible').getByTestId('greeting');
        await session.eventually(async () => ((await shown.textContent({ timeout: 2000 })) ?? '').startsWith('Ahoy, '), 'the view greets with Ahoy');
        const settings = await pageJson('/api/plugins/hello-rust/config');
        const greeting = settings.body.settings.find((f) => f.name === 'greeting');
        assert(greeting.value.state === 'set' && greeting.value.value === 'Ahoy', `stored ${JSON.stringify(greeting.value)}`);
        const events = await pageJson('/api/events?plugin=hello-rust&kind=settings_changed');
        assert(events.body[0]?.details === 'settings changed: greeting', `the event says ${events.body[0]?.details}`);
      },
    ],
    [
      'settings-refused-value',
      'a greeting longer than the schema allows shows the daemon’s reason next to the field and changes nothing',
      async () => {
        await openHelloRust();
        await saveGreeting('x'.repeat(41));
        await byTestId('setting-error-greeting').waitFor({ state: 'visible' });
        const error = (await byTestId('setting-error-greeting').textContent()) ?? '';
        assert(error.includes('is longer than 40 characters'), `the field's error says ${error}`);
        assert((await byTestId('setting-greeting').getAttribute('aria-invalid')) === 'true', 'the field is marked invalid');
        const settings = await pageJson('/api/plugins/hello-rust/config');
        const greeting = settings.body.settings.find((f) => f.name === 'greeting');
        assert(greeting.value.value === 'Ahoy', `nothing changed: ${JSON.stringify(greeting.value)}`);
      },
    ],
    [
      'settings-accessible',
      'the plugin page with its Settings form (and an error shown) passes axe-core; emptying the field restores the default',
      async () => {
        const results = await new AxeBuilder({ page: session.page }).exclude('iframe[data-testid="plugin-view-frame"]').analyze();
        const failing = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
        for (const v of failing) {
          console.log(`    axe settings: ${v.impact} ${v.id}: ${v.help}`);
          for (const node of v.nodes.slice(0, 5)) console.log(`      ${node.target.join(' ')}`);
        }
        assert(failing.length === 0, `axe found ${failing.length} serious or critical violations (printed above)`);
        await saveGreeting('');
        await byTestId('settings-notice').waitFor({ state: 'visible' });
        await session.eventually(async () => {
          const answer = await pageJson('/api/plugins/hello-rust/route/greeting');
          return answer.status === 200 && String(answer.body.message).startsWith('Hello, ');
        }, 'hello-rust greets with its default again');
      },
    ],
  ];
}
