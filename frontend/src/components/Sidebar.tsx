import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { Me, Plugin } from '../lib/api';
import { BrandMark } from './BrandMark';
import { iconText } from '../lib/format';
import { Link, useLocation } from '../lib/router';
import { HealthDot } from './Status';
import { READ_ONLY_REASON } from '../lib/role';

interface Props {
  plugins: Plugin[] | null;
  user: Me | null;
  onLogout(): void;
  loggingOut?: boolean;
}

const SYSTEM_ITEMS = [
  { to: '/', label: 'Plugins', icon: 'plugins', testId: 'nav-plugins' },
  { to: '/status', label: 'Overview', icon: 'overview', testId: 'nav-overview' },
  { to: '/users', label: 'Users', icon: 'users', testId: 'nav-users' },
] as const;

function NavIcon({ name }: { name: 'plugins' | 'overview' | 'users' }) {
  // Small inline line icons (no icon font, no network).
  return (
    <svg className="nav-icon" viewBox="0 0 20 20" aria-hidden="true" focusable="false">
      {name === 'plugins' ? (
        <path
          d="M8 2.5h4v2.2a1.6 1.6 0 1 0 3.2 0V2.5h2.3v6h-2.2a1.6 1.6 0 1 0 0 3.2h2.2v5.8h-6v-2.2a1.6 1.6 0 1 0-3.2 0v2.2H2.5v-6h2.2a1.6 1.6 0 1 0 0-3.2H2.5V2.5H8Z"
          fill="none"
          stroke="currentColor"
          strokeWidth="1.4"
          strokeLinejoin="round"
        />
      ) : name === 'users' ? (
        <path
          d="M10 9.5a3 3 0 1 0 0-6 3 3 0 0 0 0 6Zm-6 7.5c0-3.3 2.7-5.5 6-5.5s6 2.2 6 5.5"
          fill="none"
          stroke="currentColor"
          strokeWidth="1.6"
          strokeLinecap="round"
        />
      ) : (
        <path
          d="M3 16.5V10m4.7 6.5V6m4.6 10.5V8.5m4.7 8V3.5"
          fill="none"
          stroke="currentColor"
          strokeWidth="2"
          strokeLinecap="round"
        />
      )}
    </svg>
  );
}

/** The id of the part of the sidebar the menu button shows and hides on narrow screens. */
const MENU_ID = 'sidebar-menu';

/** On narrow screens (see `styles.css`) the sidebar is a bar with the brand and a menu button,
 *  which shows the navigation below it; on wide ones the button is not shown and the navigation
 *  always is. Escape closes the menu and gives the focus back to the button; going somewhere
 *  closes it too. */
function useMenu() {
  const { href } = useLocation();
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);
  useEffect(() => setOpen(false), [href]);
  const toggle = () => {
    const opening = !open;
    setOpen(opening);
    // The first link, once it is shown, so that the keyboard goes on into the menu.
    if (opening) requestAnimationFrame(() => menu.current?.querySelector<HTMLElement>('a, button')?.focus());
  };
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key !== 'Escape' || !open) return;
    event.stopPropagation();
    setOpen(false);
    button.current?.focus();
  };
  return { open, toggle, onKeyDown, button, menu };
}

/** System pages, then every enabled plugin (the section is left out when there are none). */
export function Sidebar({ plugins, user, onLogout, loggingOut }: Props) {
  const { pathname } = useLocation();
  const enabled = (plugins ?? []).filter((p) => p.status.enabled);
  const isCurrent = (to: string) => (to === '/' ? pathname === '/' : pathname === to || pathname.startsWith(`${to}/`));
  const menu = useMenu();

  return (
    <nav className="sidebar" aria-label="Main" data-menu-open={menu.open || undefined} onKeyDown={menu.onKeyDown}>
      <div className="sidebar-bar">
        <div className="brand">
          <BrandMark />
          <span className="brand-name">Toru</span>
        </div>
        <button
          type="button"
          ref={menu.button}
          className="menu-button"
          aria-expanded={menu.open}
          aria-controls={MENU_ID}
          onClick={menu.toggle}
          data-testid="menu-button"
        >
          <svg className="menu-icon" viewBox="0 0 20 20" aria-hidden="true" focusable="false">
            <path d="M3 5.5h14M3 10h14M3 14.5h14" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
          </svg>
          Menu
        </button>
      </div>

      <div className="sidebar-menu" id={MENU_ID} ref={menu.menu} data-testid="sidebar-menu">
        <ul className="nav-list" data-testid="sidebar-system">
          {SYSTEM_ITEMS.map((item) => (
            <li key={item.to}>
              <Link
                to={item.to}
                className="nav-item"
                aria-current={isCurrent(item.to) ? 'page' : undefined}
                data-testid={item.testId}
              >
                <NavIcon name={item.icon} />
                <span className="nav-label">{item.label}</span>
              </Link>
            </li>
          ))}
        </ul>

        {enabled.length > 0 ? (
          <section className="nav-section" aria-labelledby="sidebar-plugins-title" data-testid="sidebar-plugins">
            <h2 className="nav-section-title" id="sidebar-plugins-title">
              Enabled plugins
            </h2>
            <ul className="nav-list">
              {enabled.map((plugin) => {
                const to = `/plugins/${encodeURIComponent(plugin.id)}`;
                return (
                  <li key={plugin.id}>
                    <Link
                      to={to}
                      className="nav-item"
                      aria-current={isCurrent(to) ? 'page' : undefined}
                      data-testid={`sidebar-plugin-${plugin.id}`}
                    >
                      <span className="nav-plugin-icon" aria-hidden="true">
                        {iconText(plugin.icon)}
                      </span>
                      <span className="nav-label">{plugin.name}</span>
                      <HealthDot plugin={plugin} testId={`sidebar-health-${plugin.id}`} />
                    </Link>
                  </li>
                );
              })}
            </ul>
          </section>
        ) : null}

        <div className="sidebar-foot">
          {user?.role === 'viewer' ? (
            <p className="read-only-hint" data-testid="read-only-hint" title={READ_ONLY_REASON}>
              Read-only: you can look but not change anything.
            </p>
          ) : null}
          {user ? (
            <div className="user">
              <span className="user-avatar" aria-hidden="true">
                {user.username.slice(0, 1).toUpperCase()}
              </span>
              <span className="user-name" data-testid="current-user" title={`Signed in as ${user.username}`}>
                {user.username}
              </span>
              {user.method === 'password' ? (
                <button type="button" className="button button-small button-quiet" onClick={onLogout} disabled={loggingOut} data-testid="logout">
                  Log out
                </button>
              ) : null}
            </div>
          ) : null}
        </div>
      </div>
    </nav>
  );
}
