// Signed plugins in the dashboard (docs/signing.md): the plugin's page shows the signature state
// the daemon reports. The e2e daemon runs with the default policy, `warn`, and the examples are
// not signed, so hello-python's page says "Unsigned" — and the card says the same.
//
// Each step is [name, description, async ({ page, daemon }) => …]; run.mjs appends them to its
// own steps. They log in first when an earlier step left the dashboard logged out.

import { USER } from './harness.mjs';

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Goes to `urlPath`, logging in on the way if the dashboard asks. */
async function openLoggedIn(page, daemon, urlPath) {
  await page.goto(`${daemon.url}${urlPath}`);
  const login = page.getByTestId('login-username');
  const main = page.getByRole('heading', { level: 1 });
  await Promise.race([login.waitFor({ state: 'visible' }), main.waitFor({ state: 'visible' })]);
  if (await login.isVisible()) {
    await login.fill(USER.username);
    await page.getByTestId('login-password').fill(USER.password);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('current-user').waitFor({ state: 'visible' });
  }
}

/** @type {Array<[string, string, (e2e: { page: import('playwright-core').Page, daemon: any }) => Promise<void>]>} */
export const trustSteps = [
  [
    'signature-shown',
    'hello-python’s page and card show its signature state as the API reports it (unsigned, under the default warn policy)',
    async ({ page, daemon }) => {
      await openLoggedIn(page, daemon, '/plugins/hello-python');
      const api = await page.evaluate(async () => (await fetch('/api/plugins/hello-python')).json());
      assert(api.signature?.state === 'unsigned', `the API says ${JSON.stringify(api.signature)}`);
      const badge = page.getByTestId('plugin-view-signature');
      await badge.waitFor({ state: 'visible' });
      assert((await badge.getAttribute('data-state')) === 'unsigned', `the page's badge is ${await badge.getAttribute('data-state')}`);
      assert((await badge.textContent()) === 'Unsigned', `the page says ${await badge.textContent()}`);
      await page.getByTestId('nav-plugins').click();
      const card = page.getByTestId('plugin-signature-hello-python');
      await card.waitFor({ state: 'visible' });
      assert((await card.textContent()) === 'Unsigned', `the card says ${await card.textContent()}`);
    },
  ],
];
