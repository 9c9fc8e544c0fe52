// Polling that pauses while the tab is hidden and catches up as soon as it is shown again.

import { useEffect, useRef } from 'react';

/** Whether the page is visible (true where the API is missing). */
export function pageVisible(): boolean {
  return typeof document === 'undefined' || document.visibilityState !== 'hidden';
}

/**
 * Calls `tick` now and then every `intervalMs` after the previous call settled (never two at
 * once), only while the page is visible. `tick` gets a signal that aborts when the hook stops.
 * Restarts whenever `deps` change; `enabled: false` stops it.
 */
export function usePolling(
  tick: (signal: AbortSignal) => Promise<unknown> | void,
  intervalMs: number,
  deps: readonly unknown[],
  enabled = true,
): void {
  const latest = useRef(tick);
  latest.current = tick;

  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;

    const run = async () => {
      clearTimeout(timer);
      timer = undefined;
      if (running || controller.signal.aborted || !pageVisible()) return;
      running = true;
      try {
        await latest.current(controller.signal);
      } catch {
        // The tick reports its own errors; polling goes on.
      } finally {
        running = false;
      }
      if (!controller.signal.aborted && pageVisible()) timer = setTimeout(run, intervalMs);
    };
    const onVisibility = () => {
      if (pageVisible()) void run();
      else clearTimeout(timer);
    };

    document.addEventListener('visibilitychange', onVisibility);
    void run();
    return () => {
      controller.abort();
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [intervalMs, enabled, ...deps]);
}

/** Resolves after `ms`, or rejects with an AbortError when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException('Aborted', 'AbortError'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new DOMException('Aborted', 'AbortError'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
