import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LicenseStatus, Plugin } from '../lib/api';
import { PluginsProvider } from '../lib/plugins';
import { apiError, fakeApi, json, license, plugin, running } from '../test/fakeApi';
import { formatExpiry } from './LicenseBadge';
import { PluginDetailsPanel } from './PluginDetailsPanel';

afterEach(() => {
  vi.unstubAllGlobals();
});

const WRONG_INSTANCE = license({
  installed: true,
  state: 'invalid',
  error: 'wrong_instance',
  message: 'the licence key was issued for instance 11111111-1111-4111-8111-111111111111, this is instance 22222222-2222-4222-8222-222222222222',
});

const VALID = license({
  installed: true,
  state: 'valid',
  error: null,
  message: null,
  licensee: 'E2E Ltd',
  expires_at: 1_798_761_599,
  features: ['pro', 'backup'],
});

/** A daemon with one plugin whose licence the handlers change; `extra` adds or overrides
 *  routes. */
function daemon(initial: Partial<LicenseStatus>, extra: Parameters<typeof fakeApi>[0] = {}) {
  const state = { license: initial, plugin: null as Plugin | null };
  const current = () => (state.plugin = plugin('hello', { name: 'Hello', status: running, license: state.license }));
  const fetch = fakeApi({
    'GET /api/plugins': () => json([current()]),
    'GET /api/plugins/hello': () => json({ ...current(), unit_name: null, events: [] }),
    ...extra,
  });
  return { state, fetch, current };
}

function renderPanel(onClose = vi.fn()) {
  return render(
    <PluginsProvider>
      <PluginDetailsPanel pluginId="hello" onClose={onClose} onOpenLogs={vi.fn()} />
    </PluginsProvider>,
  );
}

describe('the details panel’s Licence section', () => {
  it('is short for a plugin without a key that needs none, and opens a labelled form on demand', async () => {
    const user = userEvent.setup();
    daemon({});
    renderPanel();
    const section = await screen.findByTestId('details-license');
    expect(within(section).getByRole('heading', { name: 'Licence' })).toBeTruthy();
    expect(screen.getByTestId('details-license-state').textContent).toBe('No licence key installed. Hello does not require one.');
    expect(within(section).queryByRole('textbox')).toBeNull();
    await user.click(within(section).getByRole('button', { name: 'Add a licence key' }));
    const input = within(section).getByRole('textbox', { name: 'Licence key' });
    expect(document.activeElement).toBe(input);
    expect((within(section).getByRole('button', { name: 'Save key' }) as HTMLButtonElement).disabled).toBe(true);
    expect(within(section).queryByRole('button', { name: 'Remove key' })).toBeNull();
  });

  it('says why a required plugin is refused, with the form open', async () => {
    daemon({ required: true });
    renderPanel();
    const state = await screen.findByTestId('details-license-state');
    expect(state.dataset.state).toBe('missing');
    expect(state.textContent).toContain('Licence required');
    expect(screen.getByTestId('details-license-state-refusal').textContent).toMatch(/HTTP 402/);
    expect(screen.getByRole('textbox', { name: 'Licence key' })).toBeTruthy();
  });

  it('shows an invalid key’s reason, saves a new one trimmed with PUT, then shows the valid licence', async () => {
    const user = userEvent.setup();
    const puts: unknown[] = [];
    const { state, current } = daemon(WRONG_INSTANCE, {
      'PUT /api/plugins/hello/license': ({ body }) => {
        puts.push(body);
        // The plugin restarts; its verdict comes when it runs again (below).
        state.license = license({ installed: true, state: 'unchecked', error: null });
        return json({ ...current(), status: { ...current().status, state: 'starting' } });
      },
    });
    renderPanel();
    const badge = await screen.findByTestId('details-license-state');
    expect(badge.dataset.state).toBe('invalid');
    expect(badge.textContent).toContain('Licence invalid: the licence key was issued for instance 1111');
    expect(screen.getByTestId('details-license-facts').textContent).toContain('wrong_instance');
    expect(screen.queryByTestId('details-license-state-refusal')).toBeNull();

    const input = screen.getByRole('textbox', { name: 'Replace the licence key' });
    await user.click(input);
    await user.paste('  TORU1.new.key\n');
    await user.click(screen.getByRole('button', { name: 'Save key' }));
    await waitFor(() => expect(puts).toEqual([{ key: 'TORU1.new.key' }]));
    expect((await screen.findByTestId('license-notice')).textContent).toBe('Key saved. Hello restarts to check it.');
    expect((input as HTMLTextAreaElement).value).toBe('');

    // The plugin has run again and accepted the key; the next poll (every 2 s) shows it.
    state.license = VALID;
    await waitFor(() => expect(screen.getByTestId('details-license-state').dataset.state).toBe('valid'), {
      timeout: 5000,
    });
    expect(screen.getByTestId('details-license-state').textContent).toContain(`Licensed to E2E Ltd · until ${formatExpiry(1_798_761_599)}`);
    const facts = screen.getByTestId('details-license-facts').textContent;
    expect(facts).toContain('E2E Ltd');
    expect(facts).toContain('pro, backup');
    // The verdict is in: "restarts to check it" would now be stale.
    expect(screen.queryByTestId('license-notice')).toBeNull();
  }, 15_000);

  it('shows the daemon’s 400 message next to the field and keeps the key', async () => {
    const user = userEvent.setup();
    daemon(
      { required: true },
      {
        'PUT /api/plugins/hello/license': () =>
          apiError(400, 'bad_license', 'the licence key was issued for plugin "other", not "hello"'),
      },
    );
    renderPanel();
    const input = await screen.findByRole('textbox', { name: 'Licence key' });
    await user.click(input);
    await user.paste('TORU1.other.plugin');
    await user.click(screen.getByRole('button', { name: 'Save key' }));
    const error = await screen.findByRole('alert');
    expect(error.textContent).toBe('the licence key was issued for plugin "other", not "hello"');
    expect(error.dataset.testid).toBe('license-error');
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(input.getAttribute('aria-describedby')).toContain(error.id);
    expect((input as HTMLTextAreaElement).value).toBe('TORU1.other.plugin');
    expect(screen.queryByTestId('license-notice')).toBeNull();
    await user.type(input, 'x');
    expect(screen.queryByTestId('license-error')).toBeNull();
  });

  it('removes the key with DELETE after a confirmation that Escape closes alone', async () => {
    const user = userEvent.setup();
    const deletes = vi.fn();
    const { state, current } = daemon(VALID, {
      'DELETE /api/plugins/hello/license': () => {
        deletes();
        state.license = {};
        return json(current());
      },
    });
    const closePanel = vi.fn();
    renderPanel(closePanel);
    await waitFor(() => expect(screen.getByTestId('details-license-state').dataset.state).toBe('valid'));
    await user.click(screen.getByRole('button', { name: 'Remove key' }));
    const confirm = screen.getByTestId('license-remove-dialog');
    expect(within(confirm).getByRole('heading', { name: 'Remove the licence key?' })).toBeTruthy();
    await user.keyboard('{Escape}');
    expect(screen.queryByTestId('license-remove-dialog')).toBeNull();
    expect(closePanel).not.toHaveBeenCalled();
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Remove key' }));
    expect(deletes).not.toHaveBeenCalled();

    await user.click(screen.getByRole('button', { name: 'Remove key' }));
    await user.click(within(screen.getByTestId('license-remove-dialog')).getByRole('button', { name: 'Remove key' }));
    await waitFor(() => expect(deletes).toHaveBeenCalledTimes(1));
    expect((await screen.findByTestId('license-notice')).textContent).toBe('Licence key removed.');
    await waitFor(() => expect(screen.getByTestId('details-license-state').dataset.state).toBe('missing'));
    expect(screen.queryByRole('button', { name: 'Remove key' })).toBeNull();
  });
});
