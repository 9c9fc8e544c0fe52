import { describe, expect, it } from 'vitest';
import type { EventKind, PluginEvent } from './api';
import { describeLoop, groupCrashLoops, loopDuration, type EventRow } from './crashLoops';

let nextId = 1000;
/** An event `seconds` after an arbitrary start. */
function event(plugin_id: string, kind: EventKind, seconds: number): PluginEvent {
  return { id: nextId--, plugin_id, kind, at_unix_ms: 1_800_000_000_000 + seconds * 1000, details: '', user: null, actor: null };
}

/** Newest first, as the daemon lists them: the fixtures below are written oldest first. */
const newestFirst = (events: PluginEvent[]) => [...events].reverse();

/** Rows as short strings: `kind@plugin` for an event, `loop@plugin:crashes` for a loop. */
function shape(rows: EventRow[]): string[] {
  return rows.map((row) => (row.type === 'event' ? `${row.event.kind}@${row.event.plugin_id}` : `loop@${row.loop.pluginId}:${row.loop.crashes}`));
}

/** `crashes` crashes of `plugin` from `start`, a restart after each (the last one gives up
 *  instead if `gaveUp`), `step` seconds apart. */
function loop(plugin: string, crashes: number, start: number, step: number, gaveUp: boolean): PluginEvent[] {
  const events: PluginEvent[] = [];
  let t = start;
  for (let i = 0; i < crashes; i++) {
    events.push(event(plugin, 'crashed', t));
    t += 1;
    const last = i === crashes - 1;
    events.push(event(plugin, last && gaveUp ? 'gave_up' : 'restarting', t));
    t += step - 1;
  }
  return events;
}

describe('groupCrashLoops', () => {
  it('collapses a plugin that crashed 10 times and gave up into one row', () => {
    const events = newestFirst([event('crashy', 'enabled', 0), ...loop('crashy', 10, 5, 10, true), event('crashy', 'disabled', 200)]);
    const rows = groupCrashLoops(events);
    expect(shape(rows)).toEqual(['disabled@crashy', 'loop@crashy:10', 'enabled@crashy']);
    const row = rows[1]!;
    if (row.type !== 'crash-loop') throw new Error('not a loop');
    expect(row.loop.events).toHaveLength(20);
    expect(row.loop.events[0]!.kind).toBe('gave_up');
    expect(row.loop.spanMs).toBe(91_000);
    expect(row.loop.gaveUp).toBe(true);
    expect(describeLoop(row.loop)).toBe('crashed 10× in 91 s, gave up');
  });

  it('leaves a single crash and its restart as they are', () => {
    const events = newestFirst([event('a', 'started', 0), ...loop('a', 1, 5, 2, false), event('a', 'started', 8)]);
    expect(shape(groupCrashLoops(events))).toEqual(['started@a', 'restarting@a', 'crashed@a', 'started@a']);
  });

  it('keeps another plugin’s events in their place and groups loops of two plugins separately', () => {
    const events = newestFirst([
      event('a', 'crashed', 0),
      event('b', 'crashed', 1),
      event('a', 'restarting', 2),
      event('c', 'started', 3),
      event('b', 'restarting', 4),
      event('a', 'crashed', 5),
      event('b', 'crashed', 6),
      event('a', 'gave_up', 7),
    ]);
    const rows = groupCrashLoops(events);
    expect(shape(rows)).toEqual(['loop@a:2', 'loop@b:2', 'started@c']);
    const [a, b] = rows;
    if (a?.type !== 'crash-loop' || b?.type !== 'crash-loop') throw new Error('not loops');
    expect(describeLoop(a.loop)).toBe('crashed 2× in 7 s, gave up');
    expect(describeLoop(b.loop)).toBe('crashed 2× in 5 s');
  });

  it('splits runs at the plugin’s own events of another kind', () => {
    const events = newestFirst([...loop('a', 2, 0, 3, false), event('a', 'started', 10), ...loop('a', 3, 20, 3, true)]);
    expect(shape(groupCrashLoops(events))).toEqual(['loop@a:3', 'started@a', 'loop@a:2']);
  });

  it('answers nothing for nothing, and every event exactly once otherwise', () => {
    expect(groupCrashLoops([])).toEqual([]);
    const events = newestFirst([event('x', 'discovered', 0), ...loop('x', 4, 1, 5, false), event('y', 'healthy', 30)]);
    const rows = groupCrashLoops(events);
    const seen = rows.flatMap((row) => (row.type === 'event' ? [row.event] : row.loop.events));
    expect(seen.map((e) => e.id).sort()).toEqual(events.map((e) => e.id).sort());
  });
});

describe('loopDuration', () => {
  it('says seconds, then minutes, then hours', () => {
    expect(loopDuration(95_000)).toBe('95 s');
    expect(loopDuration(12 * 60_000)).toBe('12 min');
    expect(loopDuration(3 * 3_600_000)).toBe('3 h');
  });
});
