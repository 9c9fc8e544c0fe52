import type { Actor, EventKind, PluginState } from './api';

export const STATE_LABEL: Record<PluginState, string> = {
  disabled: 'Disabled',
  starting: 'Starting',
  running: 'Running',
  backoff: 'Restarting',
  stopping: 'Stopping',
  failed: 'Failed',
};

export const EVENT_LABEL: Record<EventKind, string> = {
  discovered: 'Discovered',
  discovery_failed: 'Discovery failed',
  enabled: 'Enabled',
  disabled: 'Disabled',
  started: 'Started',
  stopped: 'Stopped',
  crashed: 'Crashed',
  restarting: 'Restarting',
  gave_up: 'Gave up',
  adopted: 'Adopted',
  unhealthy: 'Unhealthy',
  healthy: 'Healthy',
  license_set: 'Licence key set',
  license_cleared: 'Licence key removed',
  restarted: 'Restarted',
  kv_set: 'KV entry written',
  kv_deleted: 'KV entry deleted',
  rescanned: 'Plugins rescanned',
  user_created: 'User added',
  user_deleted: 'User deleted',
  user_disabled: 'User disabled',
  user_enabled: 'User enabled',
  user_role_changed: 'Role changed',
  password_changed: 'Password changed',
  backup_restored: 'Backup restored',
  plugin_data_restored: 'Data restored from a backup',
  signature_refused: 'Refused: signature',
  installed: 'Installed',
  upgraded: 'Upgraded',
  upgrade_failed: 'Upgrade rolled back',
  rolled_back: 'Rolled back',
  uninstalled: 'Uninstalled',
  settings_changed: 'Settings changed',
  webhook_failed: 'Webhook failed',
  limits_changed: 'Limits changed',
};

/** Who made a change, as `toructl events` prints it: `alice from 192.0.2.7`,
 * `uid 1000 (bob) via the local socket`. */
export function actorLabel(actor: Actor): string {
  if (actor.via === 'local_socket') return `uid ${actor.uid} (${actor.name}) via the local socket`;
  return actor.address ? `${actor.name} from ${actor.address}` : actor.name;
}

/** How an event looks: good news, bad news, or neither. */
export function eventTone(kind: EventKind): 'good' | 'bad' | 'neutral' {
  switch (kind) {
    case 'started':
    case 'healthy':
    case 'adopted':
    case 'enabled':
      return 'good';
    case 'crashed':
    case 'gave_up':
    case 'discovery_failed':
    case 'unhealthy':
      return 'bad';
    default:
      return 'neutral';
  }
}

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function relativeTime(unixMs: number, now = Date.now()): string {
  const seconds = Math.round((now - unixMs) / 1000);
  if (seconds < 0) return 'in the future';
  if (seconds < 10) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

/** A full local date and time, for titles and tables. */
export function absoluteTime(unixMs: number): string {
  return new Date(unixMs).toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** A log timestamp as local `HH:MM:SS.mmm` (the date only when it is not today). */
export function logTime(timestamp: string, now = new Date()): string {
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return timestamp;
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
  if (date.toDateString() === now.toDateString()) return time;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
}

/** An icon that is an emoji (or any short text) is shown as is; a missing one as a puzzle. */
export function iconText(icon: string | undefined): string {
  const trimmed = (icon ?? '').trim();
  if (!trimmed) return '🧩';
  // A name like "server" is not something we can draw: show its first letter instead.
  if (/^[a-z0-9_-]{3,}$/i.test(trimmed)) return trimmed[0]!.toUpperCase();
  return trimmed;
}
