import type { PluginEvent } from '../lib/api';
import { absoluteTime, actorLabel, EVENT_LABEL, eventTone, relativeTime } from '../lib/format';

interface Props {
  events: PluginEvent[];
  empty: string;
  /** Show which plugin each event is about (the overview's all-plugins list). */
  showPlugin?: boolean;
  pluginName?: (id: string) => string;
  testId?: string;
}

/** What an event is about: its plugin, the user it changed, or nothing (a rescan). */
function subject(event: PluginEvent, pluginName?: (id: string) => string): string {
  if (event.plugin_id) return pluginName?.(event.plugin_id) ?? event.plugin_id;
  if (event.user) return `user ${event.user}`;
  return '';
}

/** Events, newest first, as a compact timeline; changes made through the API say by whom. */
export function EventList({ events, empty, showPlugin, pluginName, testId }: Props) {
  if (events.length === 0) return <p className="muted">{empty}</p>;
  const now = Date.now();
  return (
    <ol className="events" data-testid={testId}>
      {events.map((event) => (
        <li key={event.id} className={`event event-${eventTone(event.kind)}`} data-kind={event.kind}>
          <span className="event-marker" aria-hidden="true" />
          <div className="event-main">
            <div className="event-line">
              <span className="event-kind">{EVENT_LABEL[event.kind] ?? event.kind}</span>
              {showPlugin ? <span className="event-plugin">{subject(event, pluginName)}</span> : null}
              <time className="event-time" dateTime={new Date(event.at_unix_ms).toISOString()} title={absoluteTime(event.at_unix_ms)}>
                {relativeTime(event.at_unix_ms, now)}
              </time>
            </div>
            {event.details && event.details.toLowerCase() !== event.kind.replace('_', ' ') ? (
              <p className="event-details">{event.details}</p>
            ) : null}
            {event.actor ? <p className="event-actor">by {actorLabel(event.actor)}</p> : null}
          </div>
        </li>
      ))}
    </ol>
  );
}
