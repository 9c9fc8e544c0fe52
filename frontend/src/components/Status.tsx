import type { Plugin, PluginState } from '../lib/api';
import { STATE_LABEL } from '../lib/format';
import { displayState, healthOf, type Health } from '../lib/plugins';

/** The plugin's lifecycle state as a coloured label. */
export function StateBadge({ state, testId }: { state: PluginState; testId?: string }) {
  return (
    <span className={`badge badge-${state}`} data-testid={testId} data-state={state}>
      {STATE_LABEL[state]}
    </span>
  );
}

const HEALTH_LABEL: Record<Health, string> = {
  ok: 'Running and healthy',
  bad: 'Not healthy',
  off: 'Not running',
};

/** A green, red or grey dot; its meaning is in its accessible name and title. */
export function HealthDot({ plugin, testId }: { plugin: Plugin; testId?: string }) {
  const health = healthOf(plugin);
  const label = health === 'bad' && displayState(plugin) !== 'running' ? 'Failing' : HEALTH_LABEL[health];
  return (
    <span
      className={`dot dot-${health}`}
      role="img"
      aria-label={label}
      title={label}
      data-testid={testId}
      data-health={health}
    />
  );
}
