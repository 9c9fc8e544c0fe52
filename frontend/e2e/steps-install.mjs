// Installing a plugin from the dashboard, end to end: an administrator uploads a plugin
// executable through the plugins page's "Install plugin" dialog and finds it listed, disabled;
// a file that is not a plugin is refused with the daemon's reason and nothing is listed; the
// dialog passes axe-core. Run after the other steps (the daemon's plugin list grows by one):
//
//   steps.push(...installSteps(session));
//
// where `session` gives the run's current `page` and `daemon` (getters) and its `eventually`.

import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { USER } from './harness.mjs';

/** A plugin that describes itself and crashes when started: enough to be installed. */
const UPLOADED = `#!/bin/sh
if [ "$1" = "--metadata" ]; then
  echo '{"id":"uploaded","name":"Uploaded","version":"1.0.0","author":"The e2e suite","icon":"📦","route":"/uploaded","protocol_version":1,"description":"Installed through the dashboard"}'
  exit 0
fi
exit 3
`;

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * @param {{ readonly page: import('playwright-core').Page, readonly daemon: { url: string },
 *           eventually: (probe: () => unknown, what: string, timeout?: number) => Promise<any> }} session
 * @returns {[name: string, description: string, run: () => Promise<void>][]}
 */
export function installSteps(session) {
  const byTestId = (id) => session.page.getByTestId(id);
  let files = null;

  /** The plugins page, logged in as the administrator, with the install dialog open. */
  async function openInstallDialog() {
    const page = session.page;
    await page.goto(`${session.daemon.url}/plugins`);
    const login = byTestId('login-username');
    const plugins = page.getByRole('heading', { level: 1, name: 'Plugins', exact: true });
    await Promise.race([login.waitFor(), plugins.waitFor()]);
    if (await login.isVisible()) {
      await login.fill(USER.username);
      await byTestId('login-password').fill(USER.password);
      await byTestId('login-submit').click();
      await plugins.waitFor();
    }
    await byTestId('install-open').click();
    await byTestId('install-dialog').waitFor();
  }

  async function scratch() {
    if (!files) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'toru-e2e-upload-'));
      const plugin = path.join(dir, 'uploaded.binary');
      const garbage = path.join(dir, 'garbage.binary');
      await writeFile(plugin, UPLOADED, { mode: 0o755 });
      await writeFile(garbage, 'this is not a program\n');
      files = { plugin, garbage };
    }
    return files;
  }

  return [
    [
      'install-upload',
      'an administrator uploads a plugin through "Install plugin" and finds it listed, disabled',
      async () => {
        const { plugin } = await scratch();
        await openInstallDialog();
        await byTestId('install-binary').setInputFiles(plugin);
        await byTestId('install-submit').click();
        const result = byTestId('install-result');
        await result.waitFor();
        const text = (await result.textContent()) ?? '';
        assert(text.includes('Installed Uploaded 1.0.0'), `the dialog says: ${text}`);
        await byTestId('install-close').click();
        await session.eventually(async () => (await byTestId('plugin-card-uploaded').count()) === 1, 'the uploaded plugin is listed');
        const state = await byTestId('plugin-state-uploaded').getAttribute('data-state');
        assert(state === 'disabled', `the uploaded plugin is ${state}, not disabled`);
      },
    ],
    [
      'install-refused',
      'a file that is not a plugin is refused with the daemon’s reason, and the dialog passes axe-core',
      async () => {
        const { garbage } = await scratch();
        await openInstallDialog();
        await byTestId('install-binary').setInputFiles(garbage);
        await byTestId('install-submit').click();
        const error = byTestId('install-error');
        await error.waitFor();
        const text = (await error.textContent()) ?? '';
        assert(text.includes('not a plugin'), `the dialog says: ${text}`);
        const results = await new AxeBuilder({ page: session.page }).include('[data-testid="install-dialog"]').analyze();
        const failing = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
        for (const v of failing) console.log(`    axe install dialog: ${v.impact} ${v.id}: ${v.help}`);
        assert(failing.length === 0, `axe found ${failing.length} serious or critical violations in the install dialog`);
        await byTestId('install-close').click();
        assert((await byTestId('plugin-card-garbage').count()) === 0, 'nothing was installed');
      },
    ],
  ];
}
