// Searching, filtering and sorting the plugin list, for the plugins page's cards and table
// alike. Pure functions, no React.

import type { Plugin, PluginState } from './api';
import { STATE_LABEL } from './format';
import { displayState } from './plugins';

/** The state asked for in the address (`?state=failed`, the overview's Failed tile), if it is
 *  one; null for all. */
export function stateParam(value: string | null): PluginState | null {
  return value !== null && Object.hasOwn(STATE_LABEL, value) ? (value as PluginState) : null;
}

/** The plugins in `state` (as shown, see `displayState`), or all of them for null. */
export function inState(plugins: readonly Plugin[], state: PluginState | null): Plugin[] {
  return state ? plugins.filter((p) => displayState(p) === state) : [...plugins];
}

/** The plugins whose id, name or description contains every word of `query`, ignoring case. */
export function matching(plugins: readonly Plugin[], query: string): Plugin[] {
  const words = query.toLocaleLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [...plugins];
  return plugins.filter((p) => {
    const text = `${p.id}\n${p.name}\n${p.description}`.toLocaleLowerCase();
    return words.every((word) => text.includes(word));
  });
}

/** What the table sorts by. */
export type SortKey = 'name' | 'state';
export interface Sort {
  key: SortKey;
  descending: boolean;
}

/** States in the order "by state" sorts them: the ones needing attention first. */
const STATE_ORDER: Record<PluginState, number> = {
  failed: 0,
  backoff: 1,
  starting: 2,
  stopping: 3,
  running: 4,
  disabled: 5,
};

const byName = (a: Plugin, b: Plugin) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id);

/** The plugins sorted by name, or by state and then name. */
export function sorted(plugins: readonly Plugin[], sort: Sort): Plugin[] {
  const compare =
    sort.key === 'name' ? byName : (a: Plugin, b: Plugin) => STATE_ORDER[displayState(a)] - STATE_ORDER[displayState(b)] || byName(a, b);
  const list = [...plugins].sort(compare);
  return sort.descending ? list.reverse() : list;
}
