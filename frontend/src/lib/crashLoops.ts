// A plugin that crashes at every start fills the event log with crashed, restarting, crashed…
// until the supervisor gives up. The overview shows such a run as one row ("crashed 10× in 95 s,
// gave up") that expands to the single events. Pure functions, no React.

import type { EventKind, PluginEvent } from './api';

/** The kinds a crash loop is made of. */
const LOOP_KINDS: ReadonlySet<EventKind> = new Set(['crashed', 'restarting', 'gave_up']);

/** A run needs this many crashes to be called a loop: one crash and its restart read fine as is. */
export const MIN_LOOP_CRASHES = 2;

/** Consecutive crashed/restarting/gave_up events of one plugin. */
export interface CrashLoop {
  pluginId: string;
  /** The events of the run, in the order given (newest first, as the daemon lists them). */
  events: PluginEvent[];
  crashes: number;
  /** From the first to the last event of the run. */
  spanMs: number;
  /** Whether the supervisor gave up at the end of it. */
  gaveUp: boolean;
}

/** One row of the event list: an event on its own, or a crash loop in place of its events. */
export type EventRow = { type: 'event'; event: PluginEvent } | { type: 'crash-loop'; loop: CrashLoop };

/** Collapses every crash loop in `events` (newest first) into one row, placed where its newest
 *  event was. A run belongs to one plugin and ends at that plugin's next event of another kind;
 *  other plugins' events in between neither break it nor move. */
export function groupCrashLoops(events: readonly PluginEvent[]): EventRow[] {
  // Pass 1: the run each loop-kind event belongs to.
  const runs: PluginEvent[][] = [];
  const runOf = new Map<PluginEvent, PluginEvent[]>();
  const open = new Map<string, PluginEvent[]>();
  for (const event of events) {
    const plugin = event.plugin_id;
    // An event about no plugin (a user change, a rescan) neither breaks a run nor joins one.
    if (plugin === null) continue;
    if (!LOOP_KINDS.has(event.kind)) {
      open.delete(plugin);
      continue;
    }
    let run = open.get(plugin);
    if (!run) {
      run = [];
      runs.push(run);
      open.set(plugin, run);
    }
    run.push(event);
    runOf.set(event, run);
  }

  // Pass 2: the runs with crashes enough to be a loop.
  const loops = new Map<PluginEvent[], CrashLoop>();
  for (const run of runs) {
    const crashes = run.filter((e) => e.kind === 'crashed').length;
    if (crashes < MIN_LOOP_CRASHES) continue;
    const times = run.map((e) => e.at_unix_ms);
    loops.set(run, {
      // Every event of a run has the run's plugin (pass 1).
      pluginId: run[0]!.plugin_id!,
      events: run,
      crashes,
      spanMs: Math.max(...times) - Math.min(...times),
      gaveUp: run.some((e) => e.kind === 'gave_up'),
    });
  }

  // Pass 3: the rows, a loop where its first (newest) event was.
  const rows: EventRow[] = [];
  for (const event of events) {
    const run = runOf.get(event);
    const loop = run && loops.get(run);
    if (!loop) rows.push({ type: 'event', event });
    else if (loop.events[0] === event) rows.push({ type: 'crash-loop', loop });
  }
  return rows;
}

/** "95 s", "12 min", "3 h": how long a loop lasted. */
export function loopDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  return `${Math.round(minutes / 60)} h`;
}

/** "crashed 10× in 95 s, gave up". */
export function describeLoop(loop: CrashLoop): string {
  return `crashed ${loop.crashes}× in ${loopDuration(loop.spanMs)}${loop.gaveUp ? ', gave up' : ''}`;
}
