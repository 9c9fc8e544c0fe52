import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { plugin, running } from '../test/fakeApi';
import { Sidebar } from './Sidebar';

const user = { username: 'admin', method: 'password', role: 'admin' } as const;

describe('Sidebar', () => {
  it('has the system items and no plugins section when nothing is enabled', () => {
    render(<Sidebar plugins={[plugin('a'), plugin('b')]} user={user} onLogout={vi.fn()} />);
    const nav = screen.getByRole('navigation', { name: 'Main' });
    expect(within(nav).getByRole('link', { name: 'Plugins' }).getAttribute('href')).toBe('/');
    expect(within(nav).getByRole('link', { name: 'Overview' }).getAttribute('href')).toBe('/status');
    expect(within(nav).getByRole('link', { name: 'Users' }).getAttribute('href')).toBe('/users');
    expect(screen.queryByTestId('read-only-hint')).toBeNull();
    expect(screen.queryByTestId('sidebar-plugins')).toBeNull();
    expect(screen.queryByText('Enabled plugins')).toBeNull();
  });

  it('hides the section while the list has not loaded', () => {
    render(<Sidebar plugins={null} user={user} onLogout={vi.fn()} />);
    expect(screen.queryByTestId('sidebar-plugins')).toBeNull();
  });

  it('lists only enabled plugins, linking to their views, with a health dot', () => {
    const plugins = [
      plugin('off', { name: 'Off' }),
      plugin('ok', { name: 'Fine', icon: '🐍', status: running }),
      plugin('sick', { name: 'Sick', status: { ...running, healthy: false } }),
      plugin('boot', { name: 'Booting', status: { enabled: true, state: 'starting' } }),
    ];
    render(<Sidebar plugins={plugins} user={user} onLogout={vi.fn()} />);
    const section = screen.getByRole('region', { name: 'Enabled plugins' });
    const links = within(section).getAllByRole('link');
    expect(links.map((l) => l.textContent)).toEqual(['🐍Fine', '🧪Sick', '🧪Booting']);
    expect(links[0]!.getAttribute('href')).toBe('/plugins/ok');
    expect(screen.getByTestId('sidebar-health-ok').dataset.health).toBe('ok');
    expect(screen.getByTestId('sidebar-health-ok').getAttribute('aria-label')).toBe('Running and healthy');
    expect(screen.getByTestId('sidebar-health-sick').dataset.health).toBe('bad');
    expect(screen.getByTestId('sidebar-health-boot').dataset.health).toBe('off');
    expect(screen.queryByTestId('sidebar-plugin-off')).toBeNull();
  });

  it('marks the current page and navigates without reloading', async () => {
    window.history.replaceState(null, '', '/plugins/ok');
    render(<Sidebar plugins={[plugin('ok', { name: 'Fine', status: running })]} user={user} onLogout={vi.fn()} />);
    expect(screen.getByTestId('sidebar-plugin-ok').getAttribute('aria-current')).toBe('page');
    expect(screen.getByTestId('nav-plugins').getAttribute('aria-current')).toBeNull();
    await userEvent.click(screen.getByTestId('nav-overview'));
    expect(window.location.pathname).toBe('/status');
    expect(screen.getByTestId('nav-overview').getAttribute('aria-current')).toBe('page');
  });

  it('logs out, but offers no logout to a local (socket) user', async () => {
    const onLogout = vi.fn();
    const { rerender } = render(<Sidebar plugins={[]} user={user} onLogout={onLogout} />);
    await userEvent.click(screen.getByRole('button', { name: 'Log out' }));
    expect(onLogout).toHaveBeenCalledTimes(1);
    rerender(<Sidebar plugins={[]} user={{ username: 'root', method: 'local', role: 'admin' }} onLogout={onLogout} />);
    expect(screen.queryByRole('button', { name: 'Log out' })).toBeNull();
  });

  it('tells a viewer that the dashboard is read-only', () => {
    render(<Sidebar plugins={[]} user={{ ...user, username: 'vera', role: 'viewer' }} onLogout={vi.fn()} />);
    expect(screen.getByTestId('read-only-hint').textContent).toContain('Read-only');
  });

  it('has a menu button that shows and hides the navigation, closes with Escape and on navigating', async () => {
    render(<Sidebar plugins={[plugin('ok', { name: 'Fine', status: running })]} user={user} onLogout={vi.fn()} />);
    const button = screen.getByRole('button', { name: 'Menu' });
    const menu = screen.getByTestId('sidebar-menu');
    expect(button.getAttribute('aria-controls')).toBe(menu.id);
    expect(button.getAttribute('aria-expanded')).toBe('false');
    const nav = screen.getByRole('navigation', { name: 'Main' });
    expect(nav.dataset.menuOpen).toBeUndefined();

    await userEvent.click(button);
    expect(button.getAttribute('aria-expanded')).toBe('true');
    expect(nav.dataset.menuOpen).toBe('true');
    // The focus goes into the menu, to its first link.
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId('nav-plugins')));
    await userEvent.keyboard('{Escape}');
    expect(button.getAttribute('aria-expanded')).toBe('false');
    expect(document.activeElement).toBe(button);

    await userEvent.click(button);
    await userEvent.click(screen.getByTestId('sidebar-plugin-ok'));
    expect(window.location.pathname).toBe('/plugins/ok');
    expect(button.getAttribute('aria-expanded')).toBe('false');
  });
});
