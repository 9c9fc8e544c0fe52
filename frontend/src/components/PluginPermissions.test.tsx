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
});
