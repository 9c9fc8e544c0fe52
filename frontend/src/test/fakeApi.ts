// A stand-in for the daemon in unit tests: `fetch` answers from a table of handlers.

import { vi } from 'vitest';
import type { Backend, LicenseStatus, Plugin, PluginStatus, Status } from '../lib/api';

export type Handler = (request: { method: string; url: URL; body: unknown; init: RequestInit }) => Response | Promise<Response>;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

export function apiError(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return json({ error: { code, message } }, status, headers);
}

/** Stubs `fetch`: `routes` maps "METHOD /path" to a handler. Unknown routes answer 404 and are
 *  recorded in `unmatched`. Returns the mock so tests can inspect calls. */
export function fakeApi(routes: Record<string, Handler>) {
  const unmatched: string[] = [];
  const mock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), 'http://dashboard.test');
    const method = (init.method ?? 'GET').toUpperCase();
    const key = `${method} ${url.pathname}`;
    const handler = routes[key];
    if (!handler) {
      unmatched.push(key);
      return apiError(404, 'not_found', 'no such route');
    }
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    return handler({ method, url, body, init });
  });
  vi.stubGlobal('fetch', mock);
  return Object.assign(mock, { unmatched });
}

export function status(overrides: Partial<PluginStatus> = {}): PluginStatus {
  return {
    enabled: false,
    state: 'disabled',
    healthy: false,
    pid: null,
    unit: null,
    restarts: 0,
    consecutive_failures: 0,
    last_error: null,
    ...overrides,
  };
}

/** A licence as the daemon shows it; by default no key installed and none required. */
export function license(overrides: Partial<LicenseStatus> = {}): LicenseStatus {
  return {
    required: false,
    installed: false,
    state: 'missing',
    error: 'missing',
    message: 'no licence key is installed for this plugin',
    licensee: null,
    expires_at: null,
    features: [],
    ...overrides,
  };
}

export function plugin(
  id: string,
  overrides: Partial<Omit<Plugin, 'status' | 'license'>> & { status?: Partial<PluginStatus>; license?: Partial<LicenseStatus> } = {},
): Plugin {
  const { status: s, license: l, ...rest } = overrides;
  const required = l?.required ?? rest.license_required ?? false;
  return {
    id,
    name: `Plugin ${id}`,
    version: '1.0.0',
    author: 'Tests',
    icon: '🧪',
    route: `/${id}`,
    protocol_version: 1,
    description: `The ${id} plugin`,
    license_required: required,
    binary: `/var/lib/toru/plugins/${id}.binary`,
    permissions: { network: false, writable_paths: [], devices: [], jit: false },
    status: status(s),
    license: license({ required, ...l }),
    signature: { state: 'unsigned' },
    ...rest,
    previous_version: rest.previous_version ?? null,
  };
}

export const running = { enabled: true, state: 'running', healthy: true, pid: 42 } as const;

/** `GET /api/status`'s answer; by default the systemd backend and no plugins. */
export function daemonStatus(backend: Backend = 'systemd', plugins: Partial<Status['plugins']> = {}): Status {
  return {
    version: '0.1.0',
    instance_id: '00000000-0000-4000-8000-000000000000',
    backend,
    user: 'admin',
    plugins: { total: 0, enabled: 0, running: 0, failed: 0, ...plugins },
  };
}
