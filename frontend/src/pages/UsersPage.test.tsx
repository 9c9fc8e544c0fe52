import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Role, User } from '../lib/api';
import { RoleProvider } from '../lib/role';
import { ToastProvider } from '../lib/toast';
import { apiError, fakeApi, json } from '../test/fakeApi';
import { UsersPage } from './UsersPage';

afterEach(() => {
  vi.unstubAllGlobals();
});

function user(username: string, overrides: Partial<User> = {}): User {
  return { username, role: 'admin', disabled: false, created_at_unix_ms: 1_700_000_000_000, ...overrides };
}

function renderPage(role: Role = 'admin') {
  return render(
    <ToastProvider>
      <RoleProvider value={role}>
        <UsersPage />
      </RoleProvider>
    </ToastProvider>,
  );
}

describe('the users page', () => {
  it('lists every user with role and state', async () => {
    fakeApi({ 'GET /api/users': () => json([user('admin'), user('vera', { role: 'viewer', disabled: true })]) });
    renderPage();
    const row = await screen.findByTestId('user-row-vera');
    expect(within(row).getByTestId('user-role-vera').textContent).toBe('viewer');
    expect(within(row).getByTestId('user-state-vera').textContent).toBe('disabled');
    expect(within(row).getByTestId('user-toggle-vera').textContent).toBe('Enable');
    expect(screen.getByTestId('user-state-admin').textContent).toBe('enabled');
  });

  it('adds a user with the role chosen', async () => {
    const users = [user('admin')];
    const fetch = fakeApi({
      'GET /api/users': () => json(users),
      'POST /api/users': ({ body }) => {
        const { username, role } = body as { username: string; role: Role };
        users.push(user(username, { role }));
        return json(users[users.length - 1], 201);
      },
    });
    renderPage();
    await userEvent.click(await screen.findByTestId('user-add'));
    await userEvent.type(screen.getByTestId('user-add-name'), 'vera');
    await userEvent.type(screen.getByTestId('user-add-password'), 'a long password');
    await userEvent.selectOptions(screen.getByTestId('user-add-role'), 'viewer');
    await userEvent.click(screen.getByTestId('user-add-submit'));
    expect(await screen.findByTestId('user-row-vera')).toBeTruthy();
    expect(screen.queryByTestId('user-add-dialog')).toBeNull();
    const post = fetch.mock.calls.find(([, init]) => init?.method === 'POST');
    expect(JSON.parse(String(post?.[1]?.body))).toEqual({ username: 'vera', password: 'a long password', role: 'viewer' });
  });

  it('deletes only after the confirmation, and shows the last-admin refusal in the API’s words', async () => {
    const message = 'admin is the last enabled administrator; make another user an administrator first';
    const fetch = fakeApi({
      'GET /api/users': () => json([user('admin')]),
      'DELETE /api/users/admin': () => apiError(409, 'last_admin', message),
    });
    renderPage();
    await userEvent.click(await screen.findByTestId('user-delete-admin'));
    expect(screen.getByTestId('user-delete-dialog')).toBeTruthy();
    await userEvent.click(screen.getByTestId('user-delete-cancel'));
    expect(fetch.mock.calls.some(([, init]) => init?.method === 'DELETE')).toBe(false);
    await userEvent.click(screen.getByTestId('user-delete-admin'));
    await userEvent.click(screen.getByTestId('user-delete-confirm'));
    expect((await screen.findByTestId('users-error')).textContent).toBe(message);
    expect(screen.getByTestId('user-row-admin')).toBeTruthy();
  });

  it('disables a user and resets a password', async () => {
    let disabled = false;
    const fetch = fakeApi({
      'GET /api/users': () => json([user('admin'), user('bob', { disabled })]),
      'POST /api/users/bob/disable': () => {
        disabled = true;
        return json(user('bob', { disabled }));
      },
      'PUT /api/users/bob/password': () => new Response(null, { status: 204 }),
    });
    renderPage();
    await userEvent.click(await screen.findByTestId('user-toggle-bob'));
    await waitFor(() => expect(screen.getByTestId('user-state-bob').textContent).toBe('disabled'));
    await userEvent.click(screen.getByTestId('user-password-bob'));
    await userEvent.type(screen.getByTestId('user-password-input'), 'another password');
    await userEvent.click(screen.getByTestId('user-password-submit'));
    await waitFor(() => expect(screen.queryByTestId('user-password-dialog')).toBeNull());
    const put = fetch.mock.calls.find(([, init]) => init?.method === 'PUT');
    expect(JSON.parse(String(put?.[1]?.body))).toEqual({ password: 'another password' });
    expect(fetch.unmatched).toEqual([]);
  });

  it('offers a viewer no change at all', async () => {
    fakeApi({ 'GET /api/users': () => json([user('admin'), user('vera', { role: 'viewer' })]) });
    renderPage('viewer');
    await screen.findByTestId('user-row-vera');
    const buttons = screen.getAllByRole('button');
    expect(buttons.length).toBeGreaterThan(0);
    for (const button of buttons) {
      expect((button as HTMLButtonElement).disabled, button.textContent ?? '').toBe(true);
    }
  });
});
