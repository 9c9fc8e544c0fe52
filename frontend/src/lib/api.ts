// The daemon's HTTP API, typed. Every call goes through `request`, which turns any non-2xx
// answer into an `ApiError` and reports a 401 to the app (which then shows the login page).
//
// The shapes are generated from the toru-api crate into ./api-types.ts (never edit that file;
// `TORU_UPDATE_TS=1 cargo test -p toru-api --test typescript` regenerates it).

import type { Event, EventKind, Permissions } from './api-types';
import type {
  DiscoveryFailure,
  InstallResult,
  LogLevel,
  LogPage,
  Me,
  Plugin,
  PluginDetails,
  Role,
  Status,
  Uninstalled,
  PluginSettings,
  SettingsChange,
  User,
} from './api-types';

export type {
  Actor,
  Backend,
  DiscoveryFailure,
  ErrorBody,
  ErrorCode,
  EventKind,
  InstallOutcome,
  InstallResult,
  KvEntry,
  KvKeys,
  LicenseState,
  LicenseStatus,
  LogEntry,
  LogLevel,
  LogPage,
  Me,
  Plugin,
  PluginDetails,
  PluginSettings,
  PluginState,
  PluginStatus,
  Role,
  SignatureStatus,
  SettingField,
  SettingValue,
  SettingsChange,
  Status,
  Uninstalled,
  User,
} from './api-types';

/** One entry of the plugin event log. */
export type PluginEvent = Event;

/** What a plugin asks for beyond the default sandbox (see docs/protocol.md, "Permissions"). */
export type PluginPermissions = Permissions;

/** Any failed API call: the HTTP status (0 when the request never got an answer), the
 *  daemon's stable error code and its human-readable message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** Seconds to wait, from `Retry-After` (429). */
  readonly retryAfter: number | undefined;

  constructor(status: number, code: string, message: string, retryAfter?: number) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

type UnauthorizedHandler = () => void;
let unauthorizedHandler: UnauthorizedHandler | null = null;

/** Sets what happens when any call answers 401 (the app shows the login page). Returns a
 *  function that removes the handler again. */
export function onUnauthorized(handler: UnauthorizedHandler): () => void {
  unauthorizedHandler = handler;
  return () => {
    if (unauthorizedHandler === handler) unauthorizedHandler = null;
  };
}

function reportUnauthorized(): void {
  unauthorizedHandler?.();
}

export interface RequestOptions {
  method?: string;
  /** Sent as JSON. */
  body?: unknown;
  query?: Record<string, string | number | undefined | null>;
  signal?: AbortSignal;
  /** Whether a 401 sends the app to the login page (not for login itself, or the first
   *  "am I logged in?" check). Default true. */
  redirectOn401?: boolean;
}

/** `path?query`, leaving out empty values. */
export function withQuery(path: string, query?: RequestOptions['query']): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** An `ApiError` from a failed response, with the daemon's `{"error": {"code", "message"}}`
 *  when the body is that. */
export async function errorFrom(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body: unknown = await response.json();
    const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (error && typeof error.code === 'string') code = error.code;
    if (error && typeof error.message === 'string' && error.message) message = error.message;
  } catch {
    // Not JSON (a proxy's error page, say): keep the status text.
  }
  const retry = Number.parseInt(response.headers.get('retry-after') ?? '', 10);
  return new ApiError(response.status, code, message, Number.isFinite(retry) ? retry : undefined);
}

/** `fetch` on the daemon with its failures as `ApiError`s: an unreachable daemon is `network`,
 *  an answer other than 2xx the daemon's own error (a 401 goes to the app's handler unless
 *  `redirectOn401` is false). An abort stays the `AbortError` it is. */
async function call(path: string, init: RequestInit, redirectOn401 = true): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, credentials: 'same-origin' });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', 'Cannot reach the Toru daemon. Is it running?');
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 && redirectOn401) reportUnauthorized();
    throw error;
  }
  return response;
}

/** One API call: JSON in, JSON out (undefined for 204), `ApiError` on any failure. */
export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const { method = 'GET', body, query, signal, redirectOn401 = true } = options;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await call(
    withQuery(path, query),
    { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal },
    redirectOn401,
  );
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(response.status, 'invalid_response', `The daemon answered ${path} with invalid JSON`);
  }
}

const enc = encodeURIComponent;

export function login(username: string, password: string): Promise<Me> {
  return request<Me>('/api/auth/login', {
    method: 'POST',
    body: { username, password },
    redirectOn401: false,
  });
}

export function logout(): Promise<void> {
  return request<void>('/api/auth/logout', { method: 'POST', redirectOn401: false });
}

/** Who is logged in; `redirect` says whether a 401 should go through the app's handler. */
export function me(options: { redirect?: boolean; signal?: AbortSignal } = {}): Promise<Me> {
  return request<Me>('/api/auth/me', { redirectOn401: options.redirect ?? true, signal: options.signal });
}

/** Every dashboard user. */
export function listUsers(signal?: AbortSignal): Promise<User[]> {
  return request<User[]>('/api/users', { signal });
}

/** Makes a user; 409 `user_exists` when the name is taken in any case. */
export function createUser(username: string, password: string, role: Role): Promise<User> {
  return request<User>('/api/users', { method: 'POST', body: { username, password, role } });
}

/** Sets a user's password; their sessions end. */
export function setUserPassword(username: string, password: string): Promise<void> {
  return request<void>(`/api/users/${enc(username)}/password`, { method: 'PUT', body: { password } });
}

/** Disables a user (their sessions end at once) or enables them again. 409 `last_admin` for
 *  the last enabled administrator. */
export function setUserDisabled(username: string, disabled: boolean): Promise<User> {
  return request<User>(`/api/users/${enc(username)}/${disabled ? 'disable' : 'enable'}`, { method: 'POST' });
}

/** Changes a user's role. 409 `last_admin` for demoting the last enabled administrator. */
export function setUserRole(username: string, role: Role): Promise<User> {
  return request<User>(`/api/users/${enc(username)}/role`, { method: 'PUT', body: { role } });
}

/** Deletes a user; their sessions end at once. 409 `last_admin` for the last enabled
 *  administrator. */
export function deleteUser(username: string): Promise<void> {
  return request<void>(`/api/users/${enc(username)}`, { method: 'DELETE' });
}

export function status(signal?: AbortSignal): Promise<Status> {
  return request<Status>('/api/status', { signal });
}

export function listPlugins(signal?: AbortSignal): Promise<Plugin[]> {
  return request<Plugin[]>('/api/plugins', { signal });
}

/** Scans the plugins directory again: new plugins appear (disabled), plugins already known are
 *  untouched, and the skipped files (`discoveryFailures`) are refreshed. Answers with the whole
 *  plugin list after the scan. */
export function rescan(): Promise<Plugin[]> {
  return request<Plugin[]>('/api/rescan', { method: 'POST' });
}

/** The `*.binary` files in the plugins directory that the last scan skipped, and why. */
export function discoveryFailures(signal?: AbortSignal): Promise<DiscoveryFailure[]> {
  return request<DiscoveryFailure[]>('/api/discovery-failures', { signal });
}

export function getPlugin(id: string, signal?: AbortSignal): Promise<PluginDetails> {
  return request<PluginDetails>(`/api/plugins/${enc(id)}`, { signal });
}

/** Asks for the plugin to run. Answers at once, before it has started: poll until `running`. */
export function enablePlugin(id: string): Promise<Plugin> {
  return request<Plugin>(`/api/plugins/${enc(id)}/enable`, { method: 'POST' });
}

/** Stops the plugin and keeps it stopped. */
export function disablePlugin(id: string): Promise<Plugin> {
  return request<Plugin>(`/api/plugins/${enc(id)}/disable`, { method: 'POST' });
}

/** Stops the plugin and starts it again, like `systemctl restart`; a plugin that does not run is
 *  enabled and started. Answers at once (`starting`): poll until `running`. Recorded as a
 *  `restarted` event. */
export function restartPlugin(id: string): Promise<Plugin> {
  return request<Plugin>(`/api/plugins/${enc(id)}/restart`, { method: 'POST' });
}

/** `POST /api/plugins`: installs a plugin executable, or upgrades the installed plugin with its
 *  id (rolled back by the daemon, 422 `upgrade_failed`, if it does not stay healthy). The
 *  detached signature, the content of its `.sig` file, travels in the `Toru-Signature` header. */
export async function installPlugin(binary: Blob, signature?: string): Promise<InstallResult> {
  const headers: Record<string, string> = {
    accept: 'application/json',
    'content-type': 'application/octet-stream',
  };
  if (signature?.trim()) headers['toru-signature'] = signature.trim();
  const response = await call('/api/plugins', { method: 'POST', headers, body: binary });
  return (await response.json()) as InstallResult;
}

/** `POST /api/plugins/:id/rollback`: back to the version kept by the last upgrade. */
export function rollbackPlugin(id: string): Promise<Plugin> {
  return request<Plugin>(`/api/plugins/${enc(id)}/rollback`, { method: 'POST' });
}

/** `DELETE /api/plugins/:id`: stops and removes the plugin; `purge` deletes its data too. */
export function uninstallPlugin(id: string, purge: boolean): Promise<Uninstalled> {
  return request<Uninstalled>(`/api/plugins/${enc(id)}`, { method: 'DELETE', query: { purge: String(purge) } });
}

/** Installs or replaces the plugin's licence key (trimmed) and restarts it if it runs, so it
 *  checks the new key. Answers with the plugin (`starting`); the verdict shows in `license` once
 *  it runs again: poll. A key that can never be valid for this plugin (not a Toru key, damaged,
 *  for another plugin) is refused with 400 `bad_license` and nothing changes. */
export function setLicense(id: string, key: string): Promise<Plugin> {
  return request<Plugin>(`/api/plugins/${enc(id)}/license`, { method: 'PUT', body: { key: key.trim() } });
}

/** Removes the plugin's licence key (restarting it if it runs). */
export function clearLicense(id: string): Promise<Plugin> {
  return request<Plugin>(`/api/plugins/${enc(id)}/license`, { method: 'DELETE' });
}

/** The plugin's settings: each declared setting with its schema and value (a secret only as
 *  `secret_set`, never its value). Empty when the plugin declares none. */
export function pluginSettings(id: string, signal?: AbortSignal): Promise<PluginSettings> {
  return request<PluginSettings>(`/api/plugins/${enc(id)}/config`, { signal });
}

/** Sets the given settings (`null` unsets one; others keep their value) and restarts the plugin
 *  if it runs. Refused as a whole with 400 `invalid_settings`, whose message starts with the
 *  setting's name (`port: 70000 is greater than the maximum of 65535`). */
export function setPluginSettings(id: string, change: SettingsChange): Promise<PluginSettings> {
  return request<PluginSettings>(`/api/plugins/${enc(id)}/config`, { method: 'PUT', body: change });
}

export interface LogsQuery {
  page?: number;
  pageSize?: number;
  /** The least severe level shown (`warn` shows warnings and errors). */
  level?: LogLevel | '';
}

export function pluginLogs(id: string, query: LogsQuery = {}, signal?: AbortSignal): Promise<LogPage> {
  return request<LogPage>(`/api/plugins/${enc(id)}/logs`, {
    query: { page: query.page, page_size: query.pageSize, level: query.level },
    signal,
  });
}

/** The server-sent-events URL that streams new log entries (`data:` is one `LogEntry`). */
export function followLogsUrl(id: string, level?: LogLevel | ''): string {
  return withQuery(`/api/plugins/${enc(id)}/logs/follow`, { level });
}

export function events(
  query: { limit?: number; plugin?: string; kind?: EventKind; actor?: string } = {},
  signal?: AbortSignal,
): Promise<PluginEvent[]> {
  return request<PluginEvent[]>('/api/events', { query, signal });
}

/** A plugin's view module, as text for its frame (`src/view/`). `version` is the plugin's, so a
 *  new version is never answered from the browser's cache; within one, the daemon's `ETag` makes
 *  the browser revalidate rather than download. Throws an `ApiError` with the daemon's reason. */
export async function viewBundle(id: string, version: string): Promise<string> {
  const response = await call(withQuery(`/api/plugins/${enc(id)}/bundle.js`, { v: version }), {});
  return response.text();
}

/** `fetch()` for a plugin's view, on a URL the view bridge has checked is one of the plugin's
 *  routes. Answers the plugin's own `Response` untouched (a plugin may answer 4xx on purpose); a
 *  401 makes the app check the session, so an expired one still leads to the login page. */
export async function viewFetch(url: string, init: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  if (response.status === 401) {
    me().catch(() => {
      // A 401 here has already been reported; anything else is not ours to handle.
    });
  }
  return response;
}
