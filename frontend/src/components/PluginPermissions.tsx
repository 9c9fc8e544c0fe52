import type { PluginPermissions as Permissions } from '../lib/api';

/** The requested permissions as short, human-readable lines; empty for the default sandbox. */
export function permissionLines(permissions: Permissions | undefined): string[] {
  if (!permissions) return [];
  const lines: string[] = [];
  if (permissions.network) lines.push('Network beyond localhost');
  for (const path of permissions.writable_paths ?? []) lines.push(`Writes ${path}`);
  for (const device of permissions.devices ?? []) lines.push(`Device ${device}`);
  if (permissions.jit) lines.push('May write and run machine code at run time (JIT)');
  return lines;
}

interface PluginPermissionsProps {
  pluginId: string;
  permissions: Permissions | undefined;
}

/**
 * What a plugin asked for beyond the sandbox, shown on its card so the administrator sees it
 * before enabling it. Renders nothing for a plugin that asks for nothing.
 */
export function PluginPermissions({ pluginId, permissions }: PluginPermissionsProps) {
  const lines = permissionLines(permissions);
  if (lines.length === 0) return null;
  return (
    <div className="plugin-permissions" data-testid={`plugin-permissions-${pluginId}`}>
      <span className="plugin-permissions-title">Requests</span>
      <ul aria-label="Requested permissions">
        {lines.map((line) => (
          <li key={line}>{line}</li>
        ))}
      </ul>
    </div>
  );
}
