//! One webhook's queue of events waiting to be delivered: bounded, and never making the one
//! who adds wait. When it is full the oldest event is dropped (a receiver that is down for
//! long gets the latest news, not the stalest), and the delivery task is told how many were,
//! so it can record it.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::store::Event;

/// Events one webhook's queue holds; a few hundred bytes each.
pub const OUTBOX_CAPACITY: usize = 1000;

/// A bounded queue of events for one webhook, filled by the dispatcher and emptied by the
/// webhook's delivery task.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    ready: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct State {
    events: VecDeque<Event>,
    /// Events dropped since the delivery task last took one.
    dropped: u64,
}

/// What the delivery task takes: the next event, and how many were dropped before it.
#[derive(Debug)]
pub struct Next {
    /// The oldest event waiting.
    pub event: Event,
    /// Events dropped from the full queue since the last `take`.
    pub dropped: u64,
}

impl Outbox {
    /// An empty queue of at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Outbox {
            state: Mutex::default(),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every critical section leaves the queue whole, so a poisoned lock is still sound.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `event` at the end, dropping the oldest when full. Never waits.
    pub fn push(&self, event: Event) {
        {
            let mut state = self.state();
            if state.events.len() >= self.capacity {
                state.events.pop_front();
                state.dropped += 1;
            }
            state.events.push_back(event);
        }
        self.ready.notify_one();
    }

    /// The oldest event, waiting for one.
    pub async fn take(&self) -> Next {
        loop {
            // `notified` is created before looking, so a push in between still wakes us.
            let notified = self.ready.notified();
            {
                let mut state = self.state();
                if let Some(event) = state.events.pop_front() {
                    let dropped = std::mem::take(&mut state.dropped);
                    return Next { event, dropped };
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventKind;

    fn event(id: i64) -> Event {
        Event {
            id,
            plugin_id: None,
            user: None,
            at_unix_ms: 0,
            kind: EventKind::Crashed,
            details: String::new(),
            actor: None,
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_and_says_how_many() {
        let outbox = Outbox::new(3);
        for id in 1..=5 {
            outbox.push(event(id));
        }
        let first = outbox.take().await;
        assert_eq!((first.event.id, first.dropped), (3, 2));
        let second = outbox.take().await;
        assert_eq!((second.event.id, second.dropped), (4, 0));
    }

    #[tokio::test]
    async fn take_waits_for_a_push() {
        let outbox = std::sync::Arc::new(Outbox::new(3));
        let taker = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.take().await.event.id }
        });
        tokio::task::yield_now().await;
        outbox.push(event(7));
        assert_eq!(taker.await.unwrap(), 7);
    }
}
