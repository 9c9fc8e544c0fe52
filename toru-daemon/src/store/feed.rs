//! The live event feed: every event [`Store::record_event`] commits, as it is committed, for
//! whoever follows the log (`GET /api/events/follow`, the webhook dispatcher).
//!
//! One `tokio::sync::broadcast` channel carries them. Sending never waits, so a slow follower
//! never slows the code that records an event; a follower that falls more than
//! [`EVENT_FEED_CAPACITY`] events behind loses the oldest from the channel, and
//! [`EventFollower`] reads exactly those back from the `events` table by id. Nothing is lost
//! unless the follower falls behind the table itself ([`MAX_EVENTS`](super::MAX_EVENTS) rows).

use std::collections::VecDeque;

use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::{Error, Event, EventFilter, Store};

/// Events the channel holds for its slowest follower before that follower must catch up from
/// the table; a few hundred bytes each.
pub const EVENT_FEED_CAPACITY: usize = 1024;

/// Events read back from the table in one query while catching up.
const CATCH_UP_PAGE: usize = 256;

/// One follower of the event log: every event that passes its filter, in id order, each once,
/// from where it started.
pub struct EventFollower {
    store: Store,
    filter: EventFilter,
    live: Receiver<Event>,
    /// The id of the last event returned (or skipped by the filter); later events only.
    last_id: i64,
    /// Events read from the table, to return before any from the channel.
    backlog: VecDeque<Event>,
    /// Whether the table may hold more after `backlog`: a catch-up page came back full, or
    /// the channel lagged.
    behind: bool,
}

impl Store {
    /// Follows the event log: the events after the one with id `after` first (read from the
    /// table), then each new one as it is recorded; without `after`, new ones only.
    pub async fn follow_events(
        &self,
        filter: EventFilter,
        after: Option<i64>,
    ) -> Result<EventFollower, Error> {
        // Subscribe before reading where the log ends, so no event falls between the two.
        let live = self.inner.feed.subscribe();
        let (last_id, behind) = match after {
            Some(after) => (after, true),
            None => (self.last_event_id().await?, false),
        };
        Ok(EventFollower {
            store: self.clone(),
            filter,
            live,
            last_id,
            backlog: VecDeque::new(),
            behind,
        })
    }

    /// The id of the newest event, 0 when there is none.
    async fn last_event_id(&self) -> Result<i64, Error> {
        self.call("last_event_id", None, |conn| {
            Ok(
                conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |row| {
                    row.get(0)
                })?,
            )
        })
        .await
    }
}

impl EventFollower {
    /// The next event that passes the filter, waiting as long as it takes (a follower holds a
    /// store handle, so the feed never closes under it: callers stop following on their own
    /// shutdown signal). An error reading the table ends nothing: the caller may call again.
    pub async fn next(&mut self) -> Result<Event, Error> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.last_id = event.id;
                return Ok(event);
            }
            if self.behind {
                self.catch_up().await?;
                continue;
            }
            match self.live.recv().await {
                Ok(event) if event.id <= self.last_id => {}
                Ok(event) => {
                    self.last_id = event.id;
                    if self.filter.matches(&event) {
                        return Ok(event);
                    }
                }
                Err(RecvError::Lagged(_)) => self.behind = true,
                // Unreachable: `self.store` holds the sender. No more events means waiting.
                Err(RecvError::Closed) => return std::future::pending().await,
            }
        }
    }

    /// Reads the next page of what the table holds after `last_id`.
    async fn catch_up(&mut self) -> Result<(), Error> {
        let page = self
            .store
            .events_after(&self.filter, self.last_id, CATCH_UP_PAGE)
            .await?;
        self.behind = page.len() == CATCH_UP_PAGE;
        self.backlog.extend(page);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventKind, NewEvent};

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("toru.db")).await.unwrap();
        (dir, store)
    }

    async fn record(store: &Store, plugin: &str, kind: EventKind) -> Event {
        store
            .record_event(NewEvent::plugin(plugin, kind, ""))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_follower_without_a_start_sees_only_new_events_that_pass_its_filter() {
        let (_dir, store) = store().await;
        record(&store, "a", EventKind::Crashed).await;
        let mut follower = store
            .follow_events(EventFilter::plugin("a"), None)
            .await
            .unwrap();
        record(&store, "b", EventKind::Crashed).await;
        let wanted = record(&store, "a", EventKind::GaveUp).await;
        assert_eq!(follower.next().await.unwrap(), wanted);
    }

    #[tokio::test]
    async fn a_follower_resumes_after_an_id_then_follows_live() {
        let (_dir, store) = store().await;
        let first = record(&store, "a", EventKind::Started).await;
        let second = record(&store, "a", EventKind::Crashed).await;
        let mut follower = store
            .follow_events(EventFilter::default(), Some(first.id))
            .await
            .unwrap();
        assert_eq!(follower.next().await.unwrap(), second);
        let third = record(&store, "a", EventKind::Restarting).await;
        assert_eq!(follower.next().await.unwrap(), third);
    }

    #[tokio::test]
    async fn a_follower_that_lags_behind_the_channel_loses_nothing_and_repeats_nothing() {
        let (_dir, store) = store().await;
        let mut follower = store
            .follow_events(EventFilter::default(), None)
            .await
            .unwrap();
        // Three times the channel's capacity, recorded while the follower reads nothing.
        let total = 3 * EVENT_FEED_CAPACITY;
        for _ in 0..total {
            record(&store, "a", EventKind::KvSet).await;
        }
        let mut ids = Vec::new();
        for _ in 0..total {
            ids.push(follower.next().await.unwrap().id);
        }
        let expected: Vec<i64> = (1..=i64::try_from(total).unwrap()).collect();
        assert_eq!(ids, expected);
        let live = record(&store, "a", EventKind::Crashed).await;
        assert_eq!(follower.next().await.unwrap(), live);
    }
}
