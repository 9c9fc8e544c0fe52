// The Users page and the viewer role, end to end: an administrator adds a viewer on the Users
// page; the viewer logs in and finds the dashboard read-only (a hint in the sidebar, every
// control that changes something disabled, the API refusing with 403 `admin_required`); the
// administrator logs back in and deletes the viewer after the confirmation.
//
// Each step is [name, description, async ({ page, daemon }) => …]; run.mjs appends them to its
// own steps, which have ended logged out on the login page.

import { USER, socketRequest } from './harness.mjs';

const VIEWER = { username: 'vera', password: 'a viewer password' };

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Logs in through the login form and waits for the dashboard. */
async function logIn(page, { username, password }) {
  await page.getByTestId('login-username').waitFor({ state: 'visible' });
  await page.getByTestId('login-username').fill(username);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('current-user').waitFor({ state: 'visible' });
  const shown = await page.getByTestId('current-user').textContent();
  assert(shown === username, `the sidebar shows ${shown}, not ${username}`);
}

async function logOut(page) {
  await page.getByTestId('logout').click();
  await page.getByTestId('login-username').waitFor({ state: 'visible' });
}

async function openUsers(page) {
  await page.getByTestId('nav-users').click();
  await page.getByTestId('users-table').waitFor({ state: 'visible' });
}

/** @type {Array<[string, string, (e2e: { page: import('playwright-core').Page, daemon: any }) => Promise<void>]>} */
export const usersSteps = [
  [
    'users-add-viewer',
    'an administrator adds a viewer on the Users page',
    async ({ page }) => {
      await logIn(page, USER);
      await openUsers(page);
      assert(new URL(page.url()).pathname === '/users', `the Users page is at ${page.url()}`);
      await page.getByTestId(`user-row-${USER.username}`).waitFor({ state: 'visible' });
      await page.getByTestId('user-add').click();
      await page.getByTestId('user-add-name').fill(VIEWER.username);
      await page.getByTestId('user-add-password').fill(VIEWER.password);
      await page.getByTestId('user-add-role').selectOption('viewer');
      await page.getByTestId('user-add-submit').click();
      await page.getByTestId(`user-row-${VIEWER.username}`).waitFor({ state: 'visible' });
      const role = await page.getByTestId(`user-role-${VIEWER.username}`).textContent();
      assert(role === 'viewer', `the new user's role shows as ${role}`);
      assert((await page.getByTestId('read-only-hint').count()) === 0, 'an administrator sees no read-only hint');
    },
  ],
  [
    'users-viewer-read-only',
    'the viewer logs in and sees a read-only hint, disabled controls, and the API refuses changes',
    async ({ page }) => {
      await logOut(page);
      await logIn(page, VIEWER);
      await page.getByTestId('read-only-hint').waitFor({ state: 'visible' });
      await page.getByTestId('nav-plugins').click();
      await page.getByTestId('plugin-toggle-hello-python').waitFor({ state: 'visible' });
      for (const id of ['rescan', 'plugin-toggle-hello-python', 'plugin-toggle-hello-rust']) {
        assert(await page.getByTestId(id).isDisabled(), `${id} is disabled for a viewer`);
      }
      await openUsers(page);
      for (const id of ['user-add', `user-delete-${USER.username}`, `user-toggle-${USER.username}`, `user-password-${USER.username}`]) {
        assert(await page.getByTestId(id).isDisabled(), `${id} is disabled for a viewer`);
      }
      // What the controls would ask, the daemon refuses too, with a code that says why.
      const refused = await page.evaluate(async () => {
        const response = await fetch('/api/rescan', { method: 'POST', credentials: 'same-origin' });
        return { status: response.status, body: await response.json() };
      });
      assert(
        refused.status === 403 && refused.body.error.code === 'admin_required',
        `a viewer's rescan answered ${refused.status} ${JSON.stringify(refused.body)}`,
      );
    },
  ],
  [
    'users-delete-viewer',
    'the administrator logs back in and deletes the viewer after confirming',
    async ({ page, daemon }) => {
      await logOut(page);
      await logIn(page, USER);
      await openUsers(page);
      await page.getByTestId(`user-delete-${VIEWER.username}`).click();
      await page.getByTestId('user-delete-dialog').waitFor({ state: 'visible' });
      await page.getByTestId('user-delete-confirm').click();
      await page.getByTestId(`user-row-${VIEWER.username}`).waitFor({ state: 'detached' });
      const { status, body } = await socketRequest(daemon, 'GET', '/api/users');
      const names = JSON.parse(body).map((u) => u.username);
      assert(status === 200 && names.length === 1 && names[0] === USER.username, `users left: ${body}`);
    },
  ],
];
