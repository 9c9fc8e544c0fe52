import { useId, useState } from 'react';
import type { PluginEvent } from '../lib/api';
import { describeLoop, groupCrashLoops, type CrashLoop, type EventRow } from '../lib/crashLoops';
import { absoluteTime, actorLabel, EVENT_LABEL, eventTone, relativeTime } from '../lib/format';

interface Props {
  events: PluginEvent[];
  empty: string;
  /** Show which plugin each event is about (the overview's all-plugins list). */
  showPlugin?: boolean;
  pluginName?: (id: string) => string;
  /** Show each crash loop as one row that expands to its events (see `lib/crashLoops.ts`). */
  collapseCrashLoops?: boolean;
  testId?: string;
}

interface RowProps {
  showPlugin?: boolean;
  pluginName?: (id: string) => string;
  now: number;
}

/** What an event is about: its plugin, the user it changed, or nothing (a rescan). */
function SubjectTag({ plugin, user, showPlugin, pluginName }: { plugin: string | null; user?: string | null } & Omit<RowProps, 'now'>) {
  if (!showPlugin) return null;
  if (plugin) return <span className="event-plugin">{pluginName?.(plugin) ?? plugin}</span>;
  if (user) return <span className="event-plugin">user {user}</span>;
  return null;
}

function EventTime({ at, now }: { at: number; now: number }) {
  return (
    <time className="event-time" dateTime={new Date(at).toISOString()} title={absoluteTime(at)}>
      {relativeTime(at, now)}
    </time>
  );
}

function EventItem({ event, ...row }: { event: PluginEvent } & RowProps) {
  return (
    <li className={`event event-${eventTone(event.kind)}`} data-kind={event.kind}>
      <span className="event-marker" aria-hidden="true" />
      <div className="event-main">
        <div className="event-line">
          <span className="event-kind">{EVENT_LABEL[event.kind] ?? event.kind}</span>
          <SubjectTag plugin={event.plugin_id} user={event.user} {...row} />
          <EventTime at={event.at_unix_ms} now={row.now} />
        </div>
        {event.details && event.details.toLowerCase() !== event.kind.replace('_', ' ') ? (
          <p className="event-details">{event.details}</p>
        ) : null}
        {event.actor ? <p className="event-actor">by {actorLabel(event.actor)}</p> : null}
      </div>
    </li>
  );
}

/** A crash loop: one line that says how often and for how long, a button to see its events. */
function CrashLoopItem({ loop, ...row }: { loop: CrashLoop } & RowProps) {
  const [open, setOpen] = useState(false);
  const listId = useId();
  const summary = describeLoop(loop);
  return (
    <li className="event event-loop" data-kind="crash-loop" data-plugin={loop.pluginId}>
      <span className="event-marker" aria-hidden="true" />
      <div className="event-main">
        <div className="event-line">
          <button
            type="button"
            className="event-loop-toggle"
            aria-expanded={open}
            aria-controls={listId}
            onClick={() => setOpen((was) => !was)}
            data-testid="crash-loop-toggle"
          >
            <span className="event-loop-chevron" aria-hidden="true" />
            <span className="event-kind">{summary.charAt(0).toUpperCase() + summary.slice(1)}</span>
          </button>
          <SubjectTag plugin={loop.pluginId} {...row} />
          <EventTime at={loop.events[0]!.at_unix_ms} now={row.now} />
        </div>
        <ol className="events events-nested" id={listId} hidden={!open}>
          {open ? loop.events.map((event) => <EventItem key={event.id} event={event} {...row} showPlugin={false} />) : null}
        </ol>
      </div>
    </li>
  );
}

/** Events, newest first, as a compact timeline; changes made through the API say by whom. */
export function EventList({ events, empty, showPlugin, pluginName, collapseCrashLoops, testId }: Props) {
  if (events.length === 0) return <p className="muted">{empty}</p>;
  const row: RowProps = { showPlugin, pluginName, now: Date.now() };
  const rows: EventRow[] = collapseCrashLoops ? groupCrashLoops(events) : events.map((event) => ({ type: 'event', event }));
  return (
    <ol className="events" data-testid={testId}>
      {rows.map((item) =>
        item.type === 'event' ? (
          <EventItem key={item.event.id} event={item.event} {...row} />
        ) : (
          <CrashLoopItem key={`loop-${item.loop.events.at(-1)!.id}`} loop={item.loop} {...row} />
        ),
      )}
    </ol>
  );
}
