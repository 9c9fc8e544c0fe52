import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PluginSettings, SettingField } from '../lib/api';
import { RoleProvider } from '../lib/role';
import { apiError, fakeApi, json } from '../test/fakeApi';
import { SettingsSection, changeOf, draftOf, fieldOfError } from './SettingsSection';

afterEach(() => {
  vi.unstubAllGlobals();
});

function field(over: Partial<SettingField> & Pick<SettingField, 'name' | 'type'>): SettingField {
  return {
    title: null,
    description: null,
    default: null,
    required: false,
    secret: false,
    minimum: null,
    maximum: null,
    min_length: null,
    max_length: null,
    pattern: null,
    options: [],
    value: { state: 'unset' },
    ...over,
  };
}

const SETTINGS: PluginSettings = {
  settings: [
    field({ name: 'greeting', type: 'string', title: 'Greeting', default: 'Hello', value: { state: 'set', value: 'Hi' } }),
    field({ name: 'port', type: 'integer', minimum: 1, maximum: 65535, default: 8080 }),
    field({ name: 'verbose', type: 'boolean' }),
    field({ name: 'unit', type: 'enum', options: ['c', 'f'] }),
    field({ name: 'token', type: 'string', secret: true, value: { state: 'secret_set' } }),
  ],
};

describe('the settings form logic', () => {
  it('starts from the values set, secrets empty', () => {
    expect(draftOf(SETTINGS)).toEqual({ greeting: 'Hi', port: '', verbose: false, unit: '', token: '' });
  });

  it('sends only what changed, typed; an emptied field unsets; an empty secret is kept', () => {
    const draft = { ...draftOf(SETTINGS), greeting: '', port: '9000', verbose: true };
    expect(changeOf(SETTINGS, draft)).toEqual({ change: { greeting: null, port: 9000, verbose: true }, errors: {} });
    expect(changeOf(SETTINGS, { ...draftOf(SETTINGS), token: 'new-secret' }).change).toEqual({ token: 'new-secret' });
    expect(changeOf(SETTINGS, { ...draftOf(SETTINGS), port: '1.5' }).errors).toEqual({ port: 'Enter a whole number.' });
  });

  it('finds the setting a daemon error names', () => {
    expect(fieldOfError(SETTINGS, 'port: 70000 is greater than the maximum of 65535')).toBe('port');
    expect(fieldOfError(SETTINGS, 'something else: went wrong')).toBeNull();
  });
});

describe('SettingsSection', () => {
  it('shows the daemon’s refusal next to the field it names', async () => {
    const put = vi.fn(() => apiError(400, 'invalid_settings', 'port: 70000 is greater than the maximum of 65535'));
    vi.stubGlobal('fetch', fakeApi({ 'GET /api/plugins/p/config': () => json(SETTINGS), 'PUT /api/plugins/p/config': put }));
    render(<SettingsSection pluginId="p" pluginName="P" />);
    await userEvent.type(await screen.findByTestId('setting-port'), '70000');
    await userEvent.click(screen.getByTestId('settings-save'));
    expect((await screen.findByTestId('setting-error-port')).textContent).toBe('70000 is greater than the maximum of 65535');
    expect(screen.getByTestId('setting-port').getAttribute('aria-invalid')).toBe('true');
  });

  it('saves and shows the secret as set, never its value', async () => {
    const saved: PluginSettings = {
      settings: SETTINGS.settings.map((f) => (f.name === 'greeting' ? { ...f, value: { state: 'set', value: 'Ahoy' } } : f)),
    };
    const fetch = fakeApi({ 'GET /api/plugins/p/config': () => json(SETTINGS), 'PUT /api/plugins/p/config': () => json(saved) });
    vi.stubGlobal('fetch', fetch);
    render(<SettingsSection pluginId="p" pluginName="P" />);
    const greeting = await screen.findByTestId('setting-greeting');
    expect(screen.getByTestId('setting-token').getAttribute('placeholder')).toBe('Set — type to replace');
    await userEvent.clear(greeting);
    await userEvent.type(greeting, 'Ahoy');
    await userEvent.click(screen.getByTestId('settings-save'));
    await waitFor(() => expect(screen.getByTestId('settings-notice').textContent).toMatch(/^Saved\./));
    const [, init] = fetch.mock.calls.find(([, i]) => i?.method === 'PUT') ?? [];
    expect(JSON.parse(String(init?.body))).toEqual({ greeting: 'Ahoy' });
  });

  it('is read-only for a viewer', async () => {
    vi.stubGlobal('fetch', fakeApi({ 'GET /api/plugins/p/config': () => json(SETTINGS) }));
    render(
      <RoleProvider value="viewer">
        <SettingsSection pluginId="p" pluginName="P" />
      </RoleProvider>,
    );
    expect((await screen.findByTestId<HTMLButtonElement>('settings-save')).disabled).toBe(true);
    expect(screen.getByTestId<HTMLInputElement>('setting-greeting').disabled).toBe(true);
  });

  it('is absent for a plugin without settings', async () => {
    const fetch = fakeApi({ 'GET /api/plugins/p/config': () => json({ settings: [] }) });
    vi.stubGlobal('fetch', fetch);
    const { container } = render(<SettingsSection pluginId="p" pluginName="P" />);
    await waitFor(() => expect(fetch).toHaveBeenCalled());
    expect(container.innerHTML).toBe('');
  });
});
