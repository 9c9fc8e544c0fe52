//! Background pruning of the event log (plugin events and the audit trail alike), so it cannot
//! grow without bound.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{Store, now_unix_ms};

/// How long events are kept unless the configuration says otherwise (`event_retention_days`).
pub const EVENT_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How often [`spawn_event_cleanup`] prunes the event log.
pub const EVENT_CLEANUP_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// Starts the task that deletes events older than `retention`: once right away,
/// then every [`EVENT_CLEANUP_INTERVAL`]. It returns promptly once `shutdown` is cancelled,
/// even in the middle of a deletion (which then finishes or rolls back on its own; either
/// way the database is consistent). A failed run is logged and retried at the next interval.
pub fn spawn_event_cleanup(
    store: Store,
    retention: Duration,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVENT_CLEANUP_INTERVAL);
        // After a suspend, run once and then keep the usual spacing instead of catching up.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let cutoff = now_unix_ms().saturating_sub(retention_ms);
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                result = store.delete_events_older_than(cutoff) => match result {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, "pruned old events"),
                    Err(error) => tracing::warn!(
                        error = &error as &dyn std::error::Error,
                        "pruning old events failed"
                    ),
                },
            }
        }
        tracing::debug!("event cleanup stopped");
    })
}
