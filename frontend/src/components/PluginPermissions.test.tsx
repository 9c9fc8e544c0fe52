import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { PluginPermissions, permissionLines } from './PluginPermissions';

describe('PluginPermissions', () => {
  it('lists every requested permission', () => {
    render(
      <PluginPermissions
        pluginId="cam"
        permissions={{ network: true, writable_paths: ['/srv/cam'], devices: ['/dev/video0'], jit: true }}
      />,
    );
    const list = within(screen.getByTestId('plugin-permissions-cam')).getByRole('list', {
      name: 'Requested permissions',
    });
    const items = within(list)
      .getAllByRole('listitem')
      .map((li) => li.textContent);
    expect(items).toEqual([
      'Network beyond localhost',
      'Writes /srv/cam',
      'Device /dev/video0',
      'May write and run machine code at run time (JIT)',
    ]);
  });

  it('renders nothing for the default sandbox or an older daemon without the field', () => {
    const { container, rerender } = render(
      <PluginPermissions pluginId="x" permissions={{ network: false, writable_paths: [], devices: [], jit: false }} />,
    );
    expect(container.innerHTML).toBe('');
    rerender(<PluginPermissions pluginId="x" permissions={undefined} />);
    expect(container.innerHTML).toBe('');
    expect(permissionLines(undefined)).toEqual([]);
  });

  it('says plainly that nothing is enforced under the embedded supervisor', () => {
    const { rerender } = render(
      <PluginPermissions pluginId="cam" permissions={{ network: true, writable_paths: [], devices: [], jit: false }} backend="embedded" />,
    );
    const block = screen.getByTestId('plugin-permissions-cam');
    expect(block.dataset.enforced).toBe('false');
    expect(within(block).getByRole('listitem').textContent).toBe('Network beyond localhost');
    expect(screen.getByTestId('plugin-unsandboxed-cam').textContent).toBe(
      'Not enforced: the embedded supervisor runs plugins without a sandbox.',
    );

    // A plugin that asks for nothing is no more sandboxed: its card says so too.
    rerender(<PluginPermissions pluginId="cam" permissions={{ network: false, writable_paths: [], devices: [], jit: false }} backend="embedded" />);
    expect(screen.queryByRole('list')).toBeNull();
    const note = screen.getByTestId('plugin-unsandboxed-cam');
    expect(note.textContent).toBe('Not sandboxed (embedded supervisor)');
    expect(note.getAttribute('title')).toBe('The embedded supervisor runs plugins without a sandbox.');
  });

  it('presents the requests as before under systemd, or while the backend is unknown', () => {
    const permissions = { network: true, writable_paths: [], devices: [], jit: false };
    for (const backend of ['systemd', null, undefined] as const) {
      const { unmount } = render(<PluginPermissions pluginId="cam" permissions={permissions} backend={backend} />);
      const block = screen.getByTestId('plugin-permissions-cam');
      expect(block.dataset.enforced).toBeUndefined();
      expect(block.textContent).toBe('RequestsNetwork beyond localhost');
      expect(screen.queryByTestId('plugin-unsandboxed-cam')).toBeNull();
      unmount();
    }
    const { container } = render(
      <PluginPermissions pluginId="x" permissions={{ network: false, writable_paths: [], devices: [], jit: false }} backend="systemd" />,
    );
    expect(container.innerHTML).toBe('');
  });
});
