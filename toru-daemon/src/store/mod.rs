//! The daemon's one SQLite database: settings, per-plugin key-value data and licence keys, the
//! plugin event log, and web users and their sessions.
//!
//! This module is the only place in the daemon that runs SQL; everything else goes through
//! [`Store`].
//!
//! # Durability
//!
//! The database runs in WAL mode with `synchronous=NORMAL`. What that promises:
//!
//! - **Process crash:** once a write method has returned `Ok`, the write survives the daemon
//!   being killed (`kill -9`, panic, OOM killer) at any later moment. A committed transaction is
//!   in the WAL file, i.e. in the kernel's page cache, before the call returns.
//! - **Power loss / kernel crash:** the last few transactions acknowledged before the failure
//!   may be lost (the WAL is only fsynced at checkpoints), but the database is never corrupted
//!   and never holds a half-applied transaction.
//!
//! # Threading
//!
//! rusqlite is blocking, and DB work must never stall the tokio runtime, so every call runs on
//! tokio's blocking pool ([`tokio::task::spawn_blocking`]) and takes the single [`Connection`]
//! from behind a [`std::sync::Mutex`]. Callers first queue for a turn asynchronously, first come
//! first served (`Inner::turn`, a [`tokio::sync::Semaphore`] of [`TURNS`] permits, which is
//! FIFO), and only callers holding a turn go to the blocking pool. So a flood of calls parks
//! tasks, not blocking threads, and a call waits for the calls queued before it and at most
//! `TURNS` more: with each
//! plugin's KV requests bounded per connection
//! ([`MAX_KV_IN_FLIGHT`](crate::plugins::connection::MAX_KV_IN_FLIGHT)), a login or an API call
//! waits for at most that many short operations per plugin. We chose this over a dedicated
//! database thread fed by a channel because:
//!
//! - it is less machinery: no thread lifecycle, no shutdown protocol, no request enum — the
//!   connection simply closes when the last [`Store`] clone is dropped;
//! - a panic inside a query is contained by the join handle and surfaces as
//!   [`Error::TaskPanicked`] for that one call; the connection stays usable (the poisoned
//!   mutex is recovered and any open transaction rolled back), whereas a panicking dedicated
//!   thread would take the whole store down;
//! - the cost is one hand-off to an (already warm) blocking-pool thread per call. The
//!   `kv_get_latency` test measures a whole `kv_get` round trip at p50 ≈ 15 µs in a release
//!   build (≈ 55 µs in a debug build) on a 2-core machine, against a budget of 100 µs.
//!
//! Two exceptions skip the hand-off, because they are on every request's path and the hand-off
//! costs more than the work: `kv_get` runs at once on the calling thread when the connection is
//! free and no one is queued for it ([`Store::read_now`]; otherwise it queues like any other
//! call), and `session_user`
//! answers sessions it has seen valid from memory (`session_cache.rs`).
//!
//! One connection means calls are serialized. That is fine at a plugin host's load — SQLite
//! allows one writer at a time anyway, and each call is microseconds. If reads ever become
//! contended, a second read-only connection is the next step.
//!
//! # Time
//!
//! All timestamps are integers in milliseconds since the Unix epoch.

mod backup;
mod cleanup;
mod error;
mod events;
mod feed;
mod kv;
mod licenses;
mod open;
mod plugin_limits;
mod plugin_settings;
mod purge;
mod schema;
mod session_cache;
mod settings;
mod users;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use backup::{DatabaseSummary, InspectError, PluginData, database_files, inspect_database};
pub use cleanup::{EVENT_CLEANUP_INTERVAL, EVENT_RETENTION, spawn_event_cleanup};
pub use error::Error;
pub use events::{Actor, Event, EventFilter, EventKind, MAX_EVENTS, NewEvent, UnknownEventKind};
pub use feed::{EVENT_FEED_CAPACITY, EventFollower};
pub use kv::{DEFAULT_KV_QUOTA, KvUsage};
pub use plugin_settings::MAX_PLUGIN_SETTINGS;
pub use purge::Purged;
pub use schema::SCHEMA_VERSION;
pub use users::{User, UserChange};

use error::OpError;

/// Calls that may be on the blocking pool at once, waiting for the one connection. One would be
/// the fairest, but then every call costs two more thread wake-ups in a row (the turn passed to
/// the next task, which then wakes a blocking thread): 16 concurrent `kv set`s ran at 9.5k/s
/// against 24k/s with the mutex alone. A few let the mutex hand the connection straight from
/// one blocking thread to the next, and still bound what a flood parks on the blocking pool.
const TURNS: usize = 4;

/// A handle to the daemon's database. Cheap to clone (an `Arc`); every clone uses the same
/// connection, which is closed when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// What all clones of a [`Store`] share.
struct Inner {
    conn: Mutex<Connection>,
    /// The turns to use `conn`: [`TURNS`] permits, handed out in the order callers asked for
    /// them, one taken before a call goes to the blocking pool, so at most that many blocking
    /// threads wait for `conn`.
    turn: Arc<tokio::sync::Semaphore>,
    path: PathBuf,
    /// Valid sessions, so authenticated requests skip the database (`session_cache.rs`).
    sessions: Mutex<session_cache::SessionCache>,
    /// Bytes of KV data each plugin may keep; see [`Store::set_kv_quota`].
    kv_quota: AtomicU64,
    /// Every event recorded, sent after its row is committed, still under the connection's
    /// lock so subscribers see them in id order (`feed.rs`).
    feed: tokio::sync::broadcast::Sender<Event>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database at `path`, creating it (and its directory) if missing, and migrates
    /// it to [`SCHEMA_VERSION`]. Fails with [`Error::SchemaTooNew`] if the file was written by
    /// a newer Toru.
    pub async fn open(path: &Path) -> Result<Store, Error> {
        let path = path.to_owned();
        let (conn, path) = tokio::task::spawn_blocking(move || {
            open::open_blocking(&path).map(|conn| (conn, path))
        })
        .await
        .map_err(|source| Error::TaskPanicked { op: "open", source })??;
        tracing::debug!(path = %path.display(), "opened database");
        Ok(Store {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                turn: Arc::new(tokio::sync::Semaphore::new(TURNS)),
                path,
                sessions: Mutex::default(),
                kv_quota: AtomicU64::new(DEFAULT_KV_QUOTA),
                feed: tokio::sync::broadcast::Sender::new(EVENT_FEED_CAPACITY),
            }),
        })
    }

    /// The database file this store was opened from, for log messages.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` with the connection on the blocking pool. `op` and `plugin_id` only label
    /// errors, so every store error says what was being done, and to whose data.
    async fn call<T, F>(&self, op: &'static str, plugin_id: Option<&str>, f: F) -> Result<T, Error>
    where
        F: FnOnce(&mut Connection) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        let turn = Arc::clone(&self.inner.turn)
            .acquire_owned()
            .await
            .expect("the store's turn semaphore is never closed");
        let inner = Arc::clone(&self.inner);
        // The turn moves into the closure: a caller that gives up still lets the call finish
        // before the next one starts.
        let run = move || {
            let _turn = turn;
            f(&mut inner.lock())
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.into_error(op, plugin_id)),
            Err(source) => Err(Error::TaskPanicked { op, source }),
        }
    }

    /// Like [`Store::call`], but when the connection is free the read runs at once on the
    /// calling thread. For point reads by primary key (a plugin's `kv get`, every plugin's hot
    /// path) the query takes microseconds while the trip through the blocking pool costs a
    /// thread wake-up each way, more than the query. Only for short reads: a busy connection
    /// (a call in progress, or callers queued for their turn) means queueing like
    /// [`Store::call`], so a runtime thread never waits for another query and no read jumps
    /// the queue.
    async fn read_now<T, F>(
        &self,
        op: &'static str,
        plugin_id: Option<&str>,
        f: F,
    ) -> Result<T, Error>
    where
        F: FnOnce(&mut Connection) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        if let Ok(_turn) = self.inner.turn.try_acquire()
            && let Ok(mut conn) = self.inner.conn.try_lock()
        {
            return f(&mut conn).map_err(|e| e.into_error(op, plugin_id));
        }
        self.call(op, plugin_id, f).await
    }
}

impl Inner {
    /// The session cache; poisoning is ignored, since every critical section is one map
    /// operation that leaves the map whole.
    fn sessions(&self) -> MutexGuard<'_, session_cache::SessionCache> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks the connection. If a previous call panicked while holding the lock, the
    /// connection is still sound — rusqlite rolls back an open [`rusqlite::Transaction`] and
    /// resets statements when they are dropped during unwinding — so we clear the poison, roll
    /// back anything a raw `BEGIN` might have left open, and carry on.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        match self.conn.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let guard = poisoned.into_inner();
                self.conn.clear_poison();
                tracing::warn!(
                    path = %self.path.display(),
                    "a database call panicked earlier; recovering the connection"
                );
                if !guard.is_autocommit()
                    && let Err(e) = guard.execute_batch("ROLLBACK")
                {
                    tracing::error!(error = %e, "rollback after panic failed");
                }
                guard
            }
        }
    }
}

/// Now, in milliseconds since the Unix epoch (0 if the clock is before 1970): the unit of every
/// timestamp the store and the backups keep.
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Converts a caller's row limit to SQLite's integer type (a limit beyond `i64::MAX` is "all").
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_call_is_reported_and_the_store_keeps_working() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).await.unwrap();
        store.kv_set("p", "k", "v").await.unwrap();

        let err = store
            .call("explode", None, |conn| -> Result<(), OpError> {
                conn.execute_batch("BEGIN; INSERT INTO settings VALUES ('half', 'done');")?;
                panic!("boom");
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::TaskPanicked { op: "explode", .. }),
            "{err:?}"
        );

        // The connection is usable and the panicking call's open transaction was rolled back.
        assert_eq!(store.kv_get("p", "k").await.unwrap().as_deref(), Some("v"));
        let half: Option<String> = store
            .call("check", None, |conn| {
                use rusqlite::OptionalExtension;
                Ok(conn
                    .query_row("SELECT value FROM settings WHERE key = 'half'", [], |r| {
                        r.get(0)
                    })
                    .optional()?)
            })
            .await
            .unwrap();
        assert_eq!(half, None);
    }
}
