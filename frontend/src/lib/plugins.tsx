// The plugin list every page shares, kept current by polling `GET /api/plugins`, and the one
// place that enables, disables and restarts plugins (so the card, the sidebar and a plugin's own
// page agree on what is pending).

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import * as api from './api';
import type { Plugin, PluginState } from './api';
import { sleep, usePolling } from './polling';
import { useToast } from './toast';

/** How often the list is refreshed while the tab is visible. */
export const POLL_INTERVAL_MS = 2000;
/** How often a plugin being enabled is checked, and for how long at most. */
const START_POLL_MS = 400;
const START_TIMEOUT_MS = 30_000;

export interface PluginsContextValue {
  /** null until the first answer. */
  plugins: Plugin[] | null;
  /** The last refresh's error, cleared by the next success. */
  error: api.ApiError | null;
  /** Plugin id → the `enabled` it is being switched to (`true` while it restarts). */
  pending: Readonly<Record<string, boolean>>;
  refresh(): Promise<void>;
  /** Enables or disables a plugin and waits until it runs (or has stopped). Reports failures
   *  with a toast; resolves to whether it worked. */
  setEnabled(id: string, enabled: boolean): Promise<boolean>;
  /** Restarts a plugin (starting it if it does not run) and waits until it runs again. Reports
   *  failures with a toast, as `setEnabled` does; resolves to whether it worked. */
  restart(id: string): Promise<boolean>;
}

/** What `setEnabled` and `restart` ask the daemon for. */
type Change = 'enable' | 'disable' | 'restart';

const CHANGE_CALL: Record<Change, (id: string) => Promise<Plugin>> = {
  enable: (id) => api.enablePlugin(id),
  disable: (id) => api.disablePlugin(id),
  restart: (id) => api.restartPlugin(id),
};

const CHANGE_DONE: Record<Change, string> = { enable: 'enabled', disable: 'disabled', restart: 'restarted' };

/** The daemon accepted the change, but the plugin did not get where it was asked to. */
class StartProblem extends Error {
  constructor(
    message: string,
    readonly kind: 'error' | 'warning' = 'error',
  ) {
    super(message);
  }
}

const PluginsContext = createContext<PluginsContextValue | null>(null);

export function usePlugins(): PluginsContextValue {
  const value = useContext(PluginsContext);
  if (!value) throw new Error('usePlugins() outside <PluginsProvider>');
  return value;
}

/** The state to show: the daemon answers an enable before the supervisor has picked it up
 *  (`enabled: true, state: "disabled"`), which is really "starting". */
export function displayState(plugin: Plugin): PluginState {
  const { enabled, state } = plugin.status;
  if (enabled && state === 'disabled') return 'starting';
  return state;
}

export type Health = 'ok' | 'bad' | 'off';

/** Green when running and answering pings, red when it should run but does not (or is not
 *  healthy), grey when it is not meant to run or is on its way. */
export function healthOf(plugin: Plugin): Health {
  const state = displayState(plugin);
  if (state === 'running') return plugin.status.healthy ? 'ok' : 'bad';
  if (state === 'backoff' || state === 'failed') return 'bad';
  return 'off';
}

function replace(list: Plugin[] | null, plugin: Plugin): Plugin[] | null {
  if (!list) return list;
  return list.map((p) => (p.id === plugin.id ? { ...p, ...plugin } : p));
}

export function PluginsProvider({ children, initial = null }: { children: ReactNode; initial?: Plugin[] | null }) {
  const [plugins, setPlugins] = useState<Plugin[] | null>(initial);
  const [error, setError] = useState<api.ApiError | null>(null);
  const [pending, setPending] = useState<Record<string, boolean>>({});
  const toast = useToast();
  // Aborts waits for plugins to start when the provider goes away (e.g. on logout).
  const alive = useRef<AbortController>(new AbortController());
  useEffect(() => {
    const controller = new AbortController();
    alive.current = controller;
    return () => controller.abort();
  }, []);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      const list = await api.listPlugins(signal);
      setPlugins(list);
      setError(null);
    } catch (e) {
      if (e instanceof api.ApiError) setError(e);
      else if (!(e instanceof DOMException && e.name === 'AbortError')) {
        setError(new api.ApiError(0, 'unknown', String(e)));
      }
    }
  }, []);

  usePolling((signal) => load(signal), POLL_INTERVAL_MS, []);

  const refresh = useCallback(() => load(), [load]);

  // Asks for the change, then polls until the plugin runs (or has stopped): a restart, like an
  // enable, is answered before the plugin has started again.
  const change = useCallback(
    async (id: string, what: Change): Promise<boolean> => {
      const enabled = what !== 'disable';
      const signal = alive.current.signal;
      const name = plugins?.find((p) => p.id === id)?.name ?? id;
      setPending((all) => ({ ...all, [id]: enabled }));
      try {
        let plugin = await CHANGE_CALL[what](id);
        setPlugins((list) => replace(list, plugin));
        const deadline = Date.now() + START_TIMEOUT_MS;
        for (;;) {
          const state = displayState(plugin);
          const why = plugin.status.last_error ? `: ${plugin.status.last_error}` : '';
          if (!enabled && state === 'disabled') break;
          if (enabled && state === 'running') break;
          if (enabled && state === 'failed') throw new StartProblem(`${name} failed to start${why}`);
          if (enabled && state === 'backoff') {
            throw new StartProblem(`${name} crashed while starting${why}. Toru keeps retrying.`);
          }
          if (Date.now() > deadline) {
            throw new StartProblem(`${name} is still ${state} after ${START_TIMEOUT_MS / 1000} s.`, 'warning');
          }
          await sleep(START_POLL_MS, signal);
          plugin = await api.getPlugin(id, signal);
          setPlugins((list) => replace(list, plugin));
        }
        toast(`${name} ${CHANGE_DONE[what]}`, 'success');
        return true;
      } catch (e) {
        if (e instanceof DOMException && e.name === 'AbortError') return false;
        if (e instanceof api.ApiError && e.status === 401) return false; // on to the login page
        if (e instanceof StartProblem) {
          toast(e.message, e.kind);
        } else {
          const message = e instanceof Error ? e.message : String(e);
          toast(`Could not ${what} ${name}: ${message}`, 'error');
        }
        return false;
      } finally {
        setPending((all) => {
          const { [id]: _, ...rest } = all;
          return rest;
        });
        if (!signal.aborted) void load();
      }
    },
    [plugins, toast, load],
  );

  const setEnabled = useCallback((id: string, enabled: boolean) => change(id, enabled ? 'enable' : 'disable'), [change]);
  const restart = useCallback((id: string) => change(id, 'restart'), [change]);

  const value = useMemo<PluginsContextValue>(
    () => ({ plugins, error, pending, refresh, setEnabled, restart }),
    [plugins, error, pending, refresh, setEnabled, restart],
  );
  return <PluginsContext.Provider value={value}>{children}</PluginsContext.Provider>;
}

/** For unit tests: a fixed context value. */
export const PluginsContextForTests = PluginsContext;
