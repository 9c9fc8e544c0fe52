// The dashboard's layout and accessibility, end to end: the plugins table, the overview's event
// filters and crash-loop rows, a phone-sized screen, and axe-core in light and dark. Run after
// run.mjs's own steps (which end logged out), as one more list of steps:
//
//   steps.push(...layoutSteps(session));
//
// where `session` gives the run's current `page`, `context` and `daemon` (getters: run.mjs
// sets them once Chromium runs) and its `eventually`.

import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { USER, paths } from './harness.mjs';

/** A phone: the Playwright steps' small screen. */
const PHONE = { width: 390, height: 844 };

/** axe-core's impacts that fail the suite. */
const FAILING_IMPACTS = new Set(['serious', 'critical']);

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** The pages the phone layout visits, by path, with the heading each shows. */
const PAGES = [
  { path: '/status', heading: 'Overview' },
  { path: '/plugins', heading: 'Plugins' },
  { path: '/plugins/hello-python', heading: 'Hello (Python)' },
  { path: '/users', heading: 'Users' },
];

/**
 * @param {{ readonly page: import('playwright-core').Page, readonly context: import('playwright-core').BrowserContext,
 *           readonly daemon: { url: string }, eventually: (probe: () => unknown, what: string, timeout?: number) => Promise<any> }} session
 * @returns {[name: string, description: string, run: () => Promise<void>][]}
 */
export function layoutSteps(session) {
  const byTestId = (id) => session.page.getByTestId(id);
  const { eventually } = session;

  /** Goes to `urlPath` inside the dashboard, on `page`, and waits for its main heading. */
  async function open(page, urlPath, heading) {
    await page.goto(`${session.daemon.url}${urlPath}`);
    await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
  }

  /** Runs axe-core on the page as it is; fails on any serious or critical violation, printing
   *  each with the elements it found it on. Plugin views' frames are left out: what a plugin
   *  draws is the plugin's. */
  async function axe(what) {
    const results = await new AxeBuilder({ page: session.page }).exclude('iframe[data-testid="plugin-view-frame"]').analyze();
    const checked = [...results.passes, ...results.violations].some((rule) => rule.id === 'color-contrast');
    assert(checked, `axe ran on ${what} and checked the text contrast`);
    const failing = results.violations.filter((v) => FAILING_IMPACTS.has(v.impact ?? ''));
    const minor = results.violations.length - failing.length;
    for (const v of failing) {
      console.log(`    axe ${what}: ${v.impact} ${v.id}: ${v.help}`);
      for (const node of v.nodes.slice(0, 5)) console.log(`      ${node.target.join(' ')}: ${node.failureSummary?.replace(/\s+/g, ' ')}`);
    }
    assert(failing.length === 0, `axe found ${failing.length} serious or critical violations on ${what} (printed above)`);
    return minor;
  }

  /** The headings of the page in document order: one h1, and no level skipped on the way
   *  down (h2 → h4). */
  async function headingsInOrder(what) {
    const levels = await session.page.evaluate(() =>
      Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6'))
        .filter((h) => h.getClientRects().length > 0)
        .map((h) => ({ level: Number(h.tagName[1]), text: h.textContent?.trim() ?? '' })),
    );
    assert(levels.filter((h) => h.level === 1).length === 1, `${what} has one h1: ${JSON.stringify(levels)}`);
    for (let i = 1; i < levels.length; i++) {
      const [before, heading] = [levels[i - 1], levels[i]];
      assert(heading.level <= before.level + 1, `${what}: "${heading.text}" (h${heading.level}) comes after an h${before.level}`);
    }
  }

  /** Runs axe and the heading check on the page in both colour schemes. */
  async function checkBothSchemes(what) {
    const page = session.page;
    const minor = [];
    try {
      for (const scheme of /** @type {const} */ (['light', 'dark'])) {
        await page.emulateMedia({ colorScheme: scheme });
        const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        const dark = background === 'rgb(15, 18, 22)';
        assert(dark === (scheme === 'dark'), `the ${scheme} scheme's background is ${background}`);
        minor.push(`${scheme} ${await axe(`${what} (${scheme})`)}`);
        await headingsInOrder(`${what} (${scheme})`);
      }
    } finally {
      await page.emulateMedia({ colorScheme: null });
    }
    return `${what}: minor or moderate ${minor.join(', ')}`;
  }

  /** Whether the document scrolls sideways on `page` (by how many pixels). */
  const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

  return [
    [
      'login-accessible',
      'the login page passes axe-core (no serious or critical violation) in light and dark, with its headings in order; logging in again',
      async () => {
        const page = session.page;
        // Steps before these may have left someone logged in (the users steps do).
        if (await byTestId('logout').isVisible()) {
          await byTestId('logout').click();
          await byTestId('login-username').waitFor();
        }
        await page.goto(`${session.daemon.url}/login`);
        await byTestId('login-username').waitFor();
        console.log(`    axe, ${await checkBothSchemes('login page')}`);
        await byTestId('login-username').fill(USER.username);
        await byTestId('login-password').fill(USER.password);
        await byTestId('login-submit').click();
        await byTestId('current-user').waitFor();
      },
    ],
    [
      'plugins-table',
      'the plugins page as a table: toggled on (and remembered over a reload), searched, a plugin enabled from its row and opened from it',
      async () => {
        const page = session.page;
        await byTestId('nav-plugins').click();
        await byTestId('plugin-card-hello-python').waitFor();
        await byTestId('plugins-view-table').click();
        const table = byTestId('plugin-table');
        await table.waitFor();
        assert((await byTestId('plugin-list').count()) === 0, 'the cards are gone');
        assert((await table.locator('tbody tr').count()) === 4, 'four plugins, four rows');
        await page.reload();
        await table.waitFor();
        assert((await byTestId('plugins-view-table').getAttribute('aria-pressed')) === 'true', 'the table is remembered');

        await byTestId('plugins-search').fill('python');
        await eventually(async () => (await table.locator('tbody tr').count()) === 1, 'searching "python" leaves one row');
        const row = byTestId('plugin-row-hello-python');
        assert(((await row.textContent()) ?? '').includes('Hello (Python)'), 'and it is hello-python’s');
        await row.getByTestId('plugin-toggle-hello-python').click();
        await eventually(async () => (await row.getByTestId('plugin-state-hello-python').getAttribute('data-state')) === 'running', 'hello-python runs');
        await row.getByRole('link', { name: 'Open Hello (Python)' }).click();
        await eventually(() => new URL(page.url()).pathname === '/plugins/hello-python', 'the row opened /plugins/hello-python');
        await page.frameLocator('iframe[data-testid="plugin-view-frame"]:visible').getByTestId('counter-value').waitFor();
      },
    ],
    [
      'overview-events',
      'the overview’s events: crashy’s crash loop is one row that expands to its events; filtered by plugin, kind and who made the change (asked of the daemon)',
      async () => {
        const page = session.page;
        await byTestId('nav-plugins').click();
        await byTestId('plugin-toggle-crashy').click();
        await byTestId('nav-overview').click();
        const events = byTestId('overview-events');
        // Crashy crashes at every start; the second crash makes a loop.
        const loop = events.locator('[data-kind="crash-loop"][data-plugin="crashy"]').first();
        await loop.waitFor({ timeout: 20_000 });
        const disabled = await page.evaluate(async () => (await fetch('/api/plugins/crashy/disable', { method: 'POST' })).status);
        assert(disabled === 200, `disabling crashy answered ${disabled}`);
        const toggle = loop.getByTestId('crash-loop-toggle');
        const summary = ((await toggle.textContent()) ?? '').trim();
        assert(/^Crashed \d+× in \d+ (s|min)/.test(summary), `the loop says how often and for how long: ${summary}`);
        console.log(`    crashy's loop: ${summary}`);
        await toggle.click();
        assert((await toggle.getAttribute('aria-expanded')) === 'true', 'the loop row expands');
        assert((await loop.locator('.events-nested > li[data-kind="crashed"]').count()) >= 2, 'and shows the single crashes');

        const kinds = () => events.locator(':scope > li').evaluateAll((items) => items.map((li) => li.dataset.kind));
        const asked = page.waitForRequest((request) => new URL(request.url()).searchParams.get('plugin') === 'hello-python');
        await byTestId('events-plugin').selectOption('hello-python');
        await asked;
        await eventually(async () => {
          const shown = await kinds();
          return shown.length > 0 && shown.includes('started') && !shown.includes('crash-loop');
        }, 'only hello-python’s events');
        assert((await events.locator('.event-plugin').count()) === 0, 'no plugin tags when one plugin is chosen');
        await byTestId('events-plugin').selectOption('');
        await byTestId('events-kind').selectOption('crashed');
        await eventually(async () => {
          const shown = await kinds();
          return shown.length > 0 && shown.every((kind) => kind === 'crashed' || kind === 'crash-loop');
        }, 'only crashes');
        await byTestId('events-kind').selectOption('');
        await events.locator('[data-kind="started"]').first().waitFor();
        // The audit trail: what admin changed, each event saying so.
        const byAdmin = page.waitForRequest((request) => new URL(request.url()).searchParams.get('actor') === USER.username);
        await byTestId('events-actor').fill(USER.username);
        await byAdmin;
        await eventually(async () => {
          const shown = await events.locator(':scope > li').count();
          const actors = await events.locator(':scope > li .event-actor').allTextContents();
          return shown > 0 && actors.length === shown && actors.every((a) => a.startsWith(`by ${USER.username} from 127.0.0.1`));
        }, 'only the changes admin made, each with its actor');
        await byTestId('events-actor').fill('');
        await events.locator('[data-kind="started"]').first().waitFor();
      },
    ],
    [
      'phone-layout',
      'on a 390×844 screen, the overview, the plugins page (cards and table) and a plugin page: the h1 is in the first screen, the menu button opens and closes the navigation, nothing scrolls sideways',
      async () => {
        const phone = await session.context.newPage();
        try {
          await phone.setViewportSize(PHONE);
          for (const { path: urlPath, heading } of PAGES) {
            await open(phone, urlPath, heading);
            const h1 = await phone.getByRole('heading', { level: 1 }).boundingBox();
            assert(h1 && h1.y >= 0 && h1.y + h1.height <= PHONE.height / 2, `${urlPath}: the h1 is near the top of the first screen: ${JSON.stringify(h1)}`);
            const button = phone.getByTestId('menu-button');
            const menu = phone.getByTestId('sidebar-menu');
            assert(await menu.isHidden(), `${urlPath}: the navigation starts closed`);
            assert((await button.getAttribute('aria-expanded')) === 'false', `${urlPath}: the button says it is closed`);
            assert((await overflow(phone)) <= 0, `${urlPath}: the page scrolls sideways by ${await overflow(phone)} px`);
            await button.click();
            await phone.getByTestId('nav-overview').waitFor();
            assert((await button.getAttribute('aria-expanded')) === 'true', `${urlPath}: the button says it is open`);
            assert((await overflow(phone)) <= 0, `${urlPath}: with the menu open, the page scrolls sideways by ${await overflow(phone)} px`);
            await phone.screenshot({ path: path.join(paths.screenshots, `phone${urlPath.replaceAll('/', '-')}-menu.png`) });
            await phone.keyboard.press('Escape');
            await menu.waitFor({ state: 'hidden' });
            assert(await button.evaluate((el) => el === document.activeElement), `${urlPath}: Escape gives the focus back to the menu button`);
            await phone.screenshot({ path: path.join(paths.screenshots, `phone${urlPath.replaceAll('/', '-')}.png`) });
          }
          // The menu takes the user somewhere, and closes.
          await phone.getByTestId('menu-button').click();
          await phone.getByTestId('nav-plugins').click();
          await phone.getByRole('heading', { level: 1, name: 'Plugins', exact: true }).waitFor();
          assert(await phone.getByTestId('sidebar-menu').isHidden(), 'going somewhere closes the menu');
          // The table, wider than a phone, scrolls inside itself.
          await phone.getByTestId('plugin-table').waitFor();
          assert((await overflow(phone)) <= 0, `the table view scrolls sideways by ${await overflow(phone)} px`);
        } finally {
          await phone.close();
        }
      },
    ],
    [
      'accessible-overview',
      'the overview (with its events) passes axe-core (no serious or critical violation) in light and dark, with headings in order',
      async () => {
        await open(session.page, '/status', 'Overview');
        await byTestId('overview-events').waitFor();
        console.log(`    axe, ${await checkBothSchemes('overview')}`);
      },
    ],
    [
      'accessible-plugins',
      'the plugins page, as a table and as cards, passes axe-core in light and dark, with headings in order',
      async () => {
        await open(session.page, '/plugins', 'Plugins');
        await byTestId('plugin-table').waitFor();
        const table = await checkBothSchemes('plugins table');
        await byTestId('plugins-view-cards').click();
        await byTestId('plugin-card-hello-python').waitFor();
        console.log(`    axe, ${table}; ${await checkBothSchemes('plugins cards')}`);
      },
    ],
    [
      'accessible-plugin-page',
      'a plugin’s page (hello-python, its view shown) passes axe-core in light and dark, with headings in order; hello-python is disabled again after',
      async () => {
        await open(session.page, '/plugins/hello-python', 'Hello (Python)');
        await session.page.frameLocator('iframe[data-testid="plugin-view-frame"]:visible').getByTestId('counter-value').waitFor();
        console.log(`    axe, ${await checkBothSchemes('hello-python’s page')}`);
        await byTestId('nav-plugins').click();
        await byTestId('plugin-toggle-hello-python').click();
        await eventually(async () => (await byTestId('plugin-state-hello-python').getAttribute('data-state')) === 'disabled', 'hello-python is disabled again');
      },
    ],
    [
      'compressed-assets',
      'the dashboard’s script is served brotli-compressed as the build wrote it, immutable for a year; index.html is revalidated',
      async () => {
        const page = session.page;
        const src = await page.evaluate(() => document.querySelector('script[type="module"]')?.getAttribute('src'));
        assert(src?.startsWith('/assets/'), `the dashboard's script is a hashed asset: ${src}`);
        const script = await page.request.get(`${session.daemon.url}${src}`, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
        const headers = script.headers();
        assert(headers['content-encoding'] === 'br', `content-encoding: ${headers['content-encoding']}`);
        assert(headers['cache-control'] === 'public, max-age=31536000, immutable', `cache-control: ${headers['cache-control']}`);
        assert((await script.text()).length > 10_000, 'and decodes to the script');
        const index = await page.request.get(`${session.daemon.url}/`);
        assert(index.headers()['cache-control'] === 'no-cache', `index.html: ${index.headers()['cache-control']}`);
        console.log(`    ${src}: ${headers['content-length']} bytes brotli`);
      },
    ],
    [
      'accessible-users-page',
      'the Users page passes axe-core in light and dark, with headings in order',
      async () => {
        await open(session.page, '/users', 'Users');
        console.log(`    axe, ${await checkBothSchemes('users page')}`);
      },
    ],
  ];
}
