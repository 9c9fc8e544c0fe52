import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { App } from './App';
import { ToastProvider } from './lib/toast';
import { apiError, daemonStatus, fakeApi, json, plugin } from './test/fakeApi';

afterEach(() => {
  vi.unstubAllGlobals();
});

function renderApp() {
  return render(
    <ToastProvider>
      <App />
    </ToastProvider>,
  );
}

const admin = { username: 'admin', method: 'password', role: 'admin' };

describe('App', () => {
  it('sends an anonymous visitor to the login page and in after a good password', async () => {
    const user = userEvent.setup();
    let loggedIn = false;
    fakeApi({
      'GET /api/auth/me': () => (loggedIn ? json(admin) : apiError(401, 'unauthorized', 'log in first')),
      'POST /api/auth/login': ({ body }) => {
        const { password } = body as { password: string };
        if (password !== 'right') return apiError(401, 'invalid_credentials', 'wrong user name or password');
        loggedIn = true;
        return json(admin);
      },
      'GET /api/plugins': () => json([plugin('hello', { name: 'Hello' })]),
    });
    window.history.replaceState(null, '', '/plugins/hello');
    renderApp();

    await screen.findByLabelText('User name');
    // The address follows the state in an effect after the form renders.
    await waitFor(() => expect(window.location.pathname).toBe('/login'));
    expect(new URLSearchParams(window.location.search).get('next')).toBe('/plugins/hello');

    await user.type(screen.getByLabelText('User name'), 'admin');
    await user.type(screen.getByLabelText('Password'), 'wrong');
    await user.click(screen.getByRole('button', { name: 'Log in' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Wrong user name or password.');
    expect((screen.getByLabelText('Password') as HTMLInputElement).value).toBe('');

    await user.type(screen.getByLabelText('Password'), 'right');
    await user.click(screen.getByRole('button', { name: 'Log in' }));
    await waitFor(() => expect(window.location.pathname).toBe('/plugins/hello'));
    expect(await screen.findByRole('heading', { name: 'Hello', level: 1 })).toBeTruthy();
  });

  it('tells the user to wait when logins are rate limited', async () => {
    const user = userEvent.setup();
    fakeApi({
      'GET /api/auth/me': () => apiError(401, 'unauthorized', 'log in first'),
      'POST /api/auth/login': () => apiError(429, 'rate_limited', 'too many', { 'retry-after': '12' }),
    });
    renderApp();
    await user.type(await screen.findByLabelText('User name'), 'admin');
    await user.type(screen.getByLabelText('Password'), 'x');
    await user.click(screen.getByRole('button', { name: 'Log in' }));
    expect((await screen.findByTestId('login-error')).textContent).toBe('Too many attempts. Try again in 12 s.');
  });

  it('returns to the login page on any 401, remembering where the user was', async () => {
    let sessionValid = true;
    fakeApi({
      'GET /api/auth/me': () => (sessionValid ? json(admin) : apiError(401, 'unauthorized', 'log in first')),
      'GET /api/plugins': () => (sessionValid ? json([]) : apiError(401, 'unauthorized', 'session expired')),
      'GET /api/status': () => apiError(401, 'unauthorized', 'session expired'),
      'GET /api/events': () => apiError(401, 'unauthorized', 'session expired'),
    });
    window.history.replaceState(null, '', '/status');
    sessionValid = true;
    renderApp();
    await screen.findByRole('heading', { name: 'Overview', level: 1 });
    sessionValid = false;
    // The overview's own poll answers 401 right away.
    expect((await screen.findByTestId('login-notice')).textContent).toContain('session has ended');
    await waitFor(() => expect(window.location.pathname).toBe('/login'));
    expect(new URLSearchParams(window.location.search).get('next')).toBe('/status');
  });

  it('leads from the overview’s Failed tile to the failed plugins only, and back to all of them', async () => {
    const user = userEvent.setup();
    const fetch = fakeApi({
      'GET /api/auth/me': () => json(admin),
      'GET /api/plugins': () =>
        json([
          plugin('ok', { name: 'Fine', status: { enabled: true, state: 'running', pid: 7 } }),
          plugin('bad', { name: 'Broken', status: { enabled: true, state: 'failed', last_error: 'exited with status 3' } }),
          plugin('off', { name: 'Idle' }),
        ]),
      'GET /api/status': () => json(daemonStatus('systemd', { total: 3, enabled: 2, running: 1, failed: 1 })),
      'GET /api/events': () => json([]),
      'GET /api/discovery-failures': () => json([]),
    });
    window.history.replaceState(null, '', '/status');
    renderApp();
    const tile = await screen.findByTestId('stat-failed');
    expect(tile.tagName).toBe('A');
    expect(tile.getAttribute('href')).toBe('/plugins?state=failed');
    expect(tile.textContent).toBe('1Failed');
    expect(screen.getByTestId('stat-running').tagName).toBe('DIV');

    await user.click(tile);
    expect(window.location.pathname + window.location.search).toBe('/plugins?state=failed');
    expect((await screen.findByTestId('plugins-filter')).textContent).toContain('Showing failed plugins only: 1 of 3.');
    expect(screen.getByTestId('plugin-card-bad')).toBeTruthy();
    expect(screen.queryByTestId('plugin-card-ok')).toBeNull();
    expect(screen.queryByTestId('plugin-card-off')).toBeNull();

    await user.click(screen.getByRole('link', { name: 'Show all plugins' }));
    expect(window.location.pathname + window.location.search).toBe('/plugins');
    expect(await screen.findByTestId('plugin-card-ok')).toBeTruthy();
    expect(screen.getByTestId('plugin-card-off')).toBeTruthy();
    expect(screen.queryByTestId('plugins-filter')).toBeNull();
    expect(fetch.unmatched).toEqual([]);
  });

  it('ignores a next= that leaves the dashboard', async () => {
    const user = userEvent.setup();
    let loggedIn = false;
    fakeApi({
      'GET /api/auth/me': () => (loggedIn ? json(admin) : apiError(401, 'unauthorized', 'log in first')),
      'POST /api/auth/login': () => {
        loggedIn = true;
        return json(admin);
      },
      'GET /api/plugins': () => json([]),
    });
    window.history.replaceState(null, '', '/login?next=//evil.example/');
    renderApp();
    await user.type(await screen.findByLabelText('User name'), 'admin');
    await user.type(screen.getByLabelText('Password'), 'pw');
    await user.click(screen.getByRole('button', { name: 'Log in' }));
    await waitFor(() => expect(window.location.pathname).toBe('/'));
    expect(await screen.findByRole('heading', { name: 'Plugins', level: 1 })).toBeTruthy();
  });

  it('logs out', async () => {
    const user = userEvent.setup();
    const fetch = fakeApi({
      'GET /api/auth/me': () => json(admin),
      'GET /api/plugins': () => json([]),
      'GET /api/discovery-failures': () => json([]),
      'GET /api/status': () => json(daemonStatus()),
      'POST /api/auth/logout': () => new Response(null, { status: 204 }),
    });
    renderApp();
    await user.click(await screen.findByRole('button', { name: 'Log out' }));
    expect(await screen.findByLabelText('User name')).toBeTruthy();
    expect(screen.getByTestId('login-notice').textContent).toBe('You have logged out.');
    expect(fetch.unmatched).toEqual([]);
  });

  it('shows a not-found page for unknown addresses', async () => {
    fakeApi({ 'GET /api/auth/me': () => json(admin), 'GET /api/plugins': () => json([]) });
    window.history.replaceState(null, '', '/nowhere');
    renderApp();
    expect((await screen.findByTestId('not-found')).textContent).toContain('/nowhere');
  });
});
