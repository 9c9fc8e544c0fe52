import type { Backend, PluginPermissions as Permissions } from '../lib/api';

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

const UNSANDBOXED = 'The embedded supervisor runs plugins without a sandbox.';

interface PluginPermissionsProps {
  pluginId: string;
  permissions: Permissions | undefined;
  /** Which backend runs the plugins (`GET /api/status`); null or absent while unknown. */
  backend?: Backend | null;
}

/**
 * What a plugin asked for beyond the sandbox, shown on its card so the administrator sees it
 * before enabling it. Renders nothing for a plugin that asks for nothing, except under the
 * embedded supervisor, which has no sandbox at all: there every card says so, rather than
 * presenting the requests (or their absence) as limits that are enforced.
 */
export function PluginPermissions({ pluginId, permissions, backend }: PluginPermissionsProps) {
  const lines = permissionLines(permissions);
  const unsandboxed = backend === 'embedded';
  if (lines.length === 0 && !unsandboxed) return null;
  return (
    <div
      className={`plugin-permissions${unsandboxed ? ' plugin-permissions-unenforced' : ''}`}
      data-testid={`plugin-permissions-${pluginId}`}
      data-enforced={unsandboxed ? 'false' : undefined}
    >
      {lines.length > 0 ? (
        <div className="plugin-permissions-requests">
          <span className="plugin-permissions-title">Requests</span>
          <ul aria-label="Requested permissions">
            {lines.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
        </div>
      ) : null}
      {unsandboxed ? (
        <p className="plugin-permissions-unsandboxed" title={UNSANDBOXED} data-testid={`plugin-unsandboxed-${pluginId}`}>
          {/* Short on the cards of plugins that request nothing, which would all say the same. */}
          {lines.length > 0 ? `Not enforced: ${UNSANDBOXED.charAt(0).toLowerCase()}${UNSANDBOXED.slice(1)}` : 'Not sandboxed (embedded supervisor)'}
        </p>
      ) : null}
    </div>
  );
}
