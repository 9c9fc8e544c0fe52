//! The event log: what happened to plugins (starts, crashes, restarts, give-ups…) and who
//! changed what (the audit trail), as pages and as a live follow.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use toru_api::{EventsQuery, FollowEventsQuery};
use warp::Reply;

use super::ApiResult;
use crate::api::error::ApiError;
use crate::api::extract::{LastEventId, Query};
use crate::api::{ApiState, sse};
use crate::store::{EventFilter, EventFollower};

/// Most events one request returns.
const MAX_EVENTS: usize = 1000;

/// Most `GET /api/events/follow` streams open at once. Each holds a connection (one of the
/// listener's 1024) and a feed subscription for as long as the client keeps it; past this, a
/// new one is 503 `busy` and the open ones are untouched.
pub const MAX_EVENT_STREAMS: usize = 64;

/// The open event streams: their bound, and the daemon's shutdown, which ends them (a stream
/// never ends by itself, and the listener would otherwise wait for it before stopping).
#[derive(Debug)]
pub struct EventStreams {
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
}

impl EventStreams {
    /// At most `max` streams, all ended when `shutdown` is cancelled.
    pub fn new(max: usize, shutdown: CancellationToken) -> Self {
        EventStreams {
            slots: Arc::new(Semaphore::new(max)),
            shutdown,
        }
    }

    /// A slot for one more stream, or 503 when all are taken.
    fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.slots).try_acquire_owned().map_err(|_| {
            ApiError::busy(
                format!("{MAX_EVENT_STREAMS} event streams are open already; try again later"),
                5,
            )
        })
    }
}

/// `GET /api/events`: newest first, filtered by plugin, kind and actor.
pub async fn list(state: ApiState, Query(query): Query<EventsQuery>) -> ApiResult {
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_EVENTS);
    let filter = EventFilter {
        plugin_id: query.plugin,
        kind: query.kind,
        actor: query.actor,
    };
    let events = state.store.events(&filter, limit).await?;
    Ok(warp::reply::json(&events).into_response())
}

/// `GET /api/events/follow`: the events that pass the filters, oldest first, as server-sent
/// events (`id:` the event's id, `data:` the event as `GET /api/events` shows it), from after
/// `?after=ID` or `Last-Event-ID` (so a reconnecting client misses nothing), else from now.
pub async fn follow(
    state: ApiState,
    Query(query): Query<FollowEventsQuery>,
    LastEventId(last_event_id): LastEventId,
) -> ApiResult {
    let streams = Arc::clone(&state.event_streams);
    let slot = streams.admit()?;
    let filter = EventFilter {
        plugin_id: query.plugin,
        kind: query.kind,
        actor: query.actor,
    };
    let after = query.after.or(last_event_id);
    let follower = state.store.follow_events(filter, after).await?;
    let shutdown = streams.shutdown.clone();
    Ok(sse::reply(events_until(follower, shutdown, slot)))
}

/// Events the stream's task may have read ahead of a client that is slow to take them.
const STREAM_BUFFER: usize = 16;

/// The follower's events as SSE events, until `shutdown`, the client going away, or a store
/// error (the client then reconnects with the last id it saw). A task reads them into a small
/// channel the response streams from; it holds `slot` as long as it runs.
fn events_until(
    mut follower: EventFollower,
    shutdown: CancellationToken,
    slot: OwnedSemaphorePermit,
) -> impl futures::Stream<Item = warp::sse::Event> + Send + Sync {
    let (tx, rx) = tokio::sync::mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        let _slot = slot;
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                () = tx.closed() => return,
                next = follower.next() => next,
            };
            match next {
                Ok(event) => {
                    let sse = sse::json_event(&event).id(event.id.to_string());
                    if tx.send(sse).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "an event stream ends: cannot read the event log");
                    return;
                }
            }
        }
    });
    sse::from_receiver(rx)
}
