// The `*.binary` files that discovery skipped (`GET /api/discovery-failures`), for the plugins
// page, and what a rescan changed, in words.

import { useCallback, useRef, useState } from 'react';
import * as api from './api';
import type { DiscoveryFailure, Plugin } from './api';
import { usePolling } from './polling';

/** How often the skipped list is read again while the page is visible. The daemon changes it
 *  only when it scans (a rescan here or from `toructl`, or `enable` of an unknown id), so this is
 *  slower than the plugin list's poll; a rescan from the page reloads it at once. */
export const SKIPPED_POLL_MS = 15_000;

export interface SkippedBinaries {
  /** null until the first answer (and while the daemon never answered). */
  failures: DiscoveryFailure[] | null;
  /** Reads the list again now; resolves to it, or throws the call's error. */
  reload(): Promise<DiscoveryFailure[]>;
}

/** The skipped files, polled while the page shows. A failed poll keeps the last list: the page
 *  already says when the daemon cannot be reached. */
export function useSkippedBinaries(): SkippedBinaries {
  const [failures, setFailures] = useState<DiscoveryFailure[] | null>(null);
  // Each read is numbered; an answer older than the last one shown is dropped, so a poll that was
  // under way during a rescan cannot bring back the list from before it.
  const asked = useRef(0);
  const shown = useRef(0);

  const read = useCallback(async (signal?: AbortSignal) => {
    const n = ++asked.current;
    const list = await api.discoveryFailures(signal);
    if (n > shown.current) {
      shown.current = n;
      setFailures(list);
    }
    return list;
  }, []);

  usePolling((signal) => read(signal), SKIPPED_POLL_MS, []);

  const reload = useCallback(() => read(), [read]);
  return { failures, reload };
}

/** The file name of a path the daemon reports (always `/`-separated). */
export function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1) || path;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** What a rescan changed, for its toast: the plugins that were not in `before` (null when the
 *  list had never loaded), then how many files are skipped now (`skipped` null: unknown).
 *  `found` is how many plugins are new. */
export function rescanSummary(
  before: Plugin[] | null,
  after: Plugin[],
  skipped: DiscoveryFailure[] | null,
): { message: string; found: number } {
  let message: string;
  let found = 0;
  if (before === null) {
    message = plural(after.length, 'plugin installed', 'plugins installed');
  } else {
    const known = new Set(before.map((p) => p.id));
    const added = after.filter((p) => !known.has(p.id));
    found = added.length;
    message = found === 0 ? 'No new plugins' : `${plural(found, 'new plugin', 'new plugins')}: ${added.map((p) => p.name).join(', ')}`;
  }
  if (skipped && skipped.length > 0) message += ` · ${plural(skipped.length, 'file skipped', 'files skipped')}`;
  return { message, found };
}
