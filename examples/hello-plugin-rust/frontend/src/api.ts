// What the dashboard hands mount(): see docs/frontend-api.md. The view runs in a sandboxed
// frame; every call here is a message to the dashboard, which lets it reach only this plugin.

export type ToastKind = 'info' | 'success' | 'warning' | 'error';

export interface ToruApi {
  /** fetch() scoped to this plugin's routes: fetch('/counter') reaches the plugin's GET /counter. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Navigates the dashboard to a path inside the plugin's view. */
  navigate(path: string): void;
  /** Where the view is below /plugins/<id> ('' or '/settings'…); the view runs in a frame, so
   *  window.location is not the dashboard's address. */
  readonly path: string;
  /** Shows a dashboard toast. */
  showToast(message: string, kind?: ToastKind): void;
  /** The id the daemon knows this plugin by. */
  pluginId: string;
}

/** Calls the plugin and returns its JSON, throwing an Error with a readable message on failure. */
export async function callJson(
  api: ToruApi,
  path: string,
  init: RequestInit = {},
  signal?: AbortSignal,
): Promise<unknown> {
  const response = await api.fetch(path, { ...init, signal });
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: the status check below says what went wrong.
  }
  if (!response.ok) {
    throw new Error(errorMessage(body) ?? `${path} failed with HTTP ${response.status}`);
  }
  return body;
}

/** The message of the daemon's and SDK's `{"error": {"code", "message"}}` error shape. */
function errorMessage(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || !('error' in body)) return undefined;
  const error = (body as { error: unknown }).error;
  if (typeof error !== 'object' || error === null || !('message' in error)) return undefined;
  const message = (error as { message: unknown }).message;
  return typeof message === 'string' && message !== '' ? message : undefined;
}

/** Reads `{count: number}` from a counter endpoint's answer. */
export function countOf(body: unknown): number {
  const count = (body as { count?: unknown } | null)?.count;
  if (typeof count !== 'number') throw new Error('The plugin answered without a count');
  return count;
}

/** Reads `{message: string}` from GET /greeting's answer. */
export function messageOf(body: unknown): string {
  const message = (body as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') throw new Error('The plugin answered without a greeting');
  return message;
}
