//! The plugin event log (the `plugin_events` table): what happened to each plugin and when,
//! for the UI's history view and for debugging crash loops.

use std::fmt;
use std::str::FromStr;

use rusqlite::Connection;

use super::{Error, OpError, Store, now_unix_ms, sql_limit};

/// What happened to a plugin. Stored in the database (and serialized to JSON) as the
/// snake_case name returned by [`EventKind::as_str`]; the names are part of the on-disk format,
/// so never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The plugin was found on disk and its metadata read.
    Discovered,
    /// A plugin file was found but could not be loaded (bad metadata, not executable, …).
    DiscoveryFailed,
    /// An administrator enabled the plugin.
    Enabled,
    /// An administrator disabled the plugin.
    Disabled,
    /// The plugin's process was started.
    Started,
    /// The plugin's process was stopped on purpose.
    Stopped,
    /// The plugin's process exited unexpectedly.
    Crashed,
    /// The supervisor is restarting the plugin after a crash.
    Restarting,
    /// The supervisor stopped restarting the plugin (too many crashes).
    GaveUp,
    /// The daemon took over a plugin process that was already running (e.g. after a daemon
    /// restart).
    Adopted,
    /// The plugin stopped answering health checks.
    Unhealthy,
    /// The plugin answers health checks again.
    Healthy,
    /// An administrator installed or replaced the plugin's licence key.
    LicenseSet,
    /// An administrator removed the plugin's licence key.
    LicenseCleared,
}

impl EventKind {
    /// Every kind, for exhaustive tests and UI filters.
    pub const ALL: [EventKind; 14] = [
        EventKind::Discovered,
        EventKind::DiscoveryFailed,
        EventKind::Enabled,
        EventKind::Disabled,
        EventKind::Started,
        EventKind::Stopped,
        EventKind::Crashed,
        EventKind::Restarting,
        EventKind::GaveUp,
        EventKind::Adopted,
        EventKind::Unhealthy,
        EventKind::Healthy,
        EventKind::LicenseSet,
        EventKind::LicenseCleared,
    ];

    /// The stable snake_case name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Discovered => "discovered",
            EventKind::DiscoveryFailed => "discovery_failed",
            EventKind::Enabled => "enabled",
            EventKind::Disabled => "disabled",
            EventKind::Started => "started",
            EventKind::Stopped => "stopped",
            EventKind::Crashed => "crashed",
            EventKind::Restarting => "restarting",
            EventKind::GaveUp => "gave_up",
            EventKind::Adopted => "adopted",
            EventKind::Unhealthy => "unhealthy",
            EventKind::Healthy => "healthy",
            EventKind::LicenseSet => "license_set",
            EventKind::LicenseCleared => "license_cleared",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not the name of any [`EventKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event kind {0:?}")]
pub struct UnknownEventKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    /// Parses the name written by [`EventKind::as_str`] (exact, case-sensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownEventKind(s.to_owned()))
    }
}

/// One entry of the plugin event log, as read back for the UI.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// Row id; increases with insertion order.
    pub id: i64,
    /// The plugin the event is about.
    pub plugin_id: String,
    /// When it was recorded, in ms since the Unix epoch.
    pub at_unix_ms: i64,
    /// What happened.
    pub kind: EventKind,
    /// Free-form human-readable details (exit status, error message, …); may be empty.
    pub details: String,
}

impl Store {
    /// Appends an event about `plugin_id` to the log, stamped with the current time.
    pub async fn record_event(
        &self,
        plugin_id: &str,
        kind: EventKind,
        details: &str,
    ) -> Result<(), Error> {
        let (plugin, details) = (plugin_id.to_owned(), details.to_owned());
        self.call("record_event", Some(plugin_id), move |conn| {
            conn.prepare_cached(
                "INSERT INTO plugin_events (plugin_id, at, kind, details) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute((&plugin, now_unix_ms(), kind.as_str(), &details))?;
            Ok(())
        })
        .await
    }

    /// The `limit` most recent events about `plugin_id`, newest first.
    pub async fn recent_events(&self, plugin_id: &str, limit: usize) -> Result<Vec<Event>, Error> {
        let plugin = plugin_id.to_owned();
        self.call("recent_events", Some(plugin_id), move |conn| {
            query_events(
                conn,
                "SELECT id, plugin_id, at, kind, details FROM plugin_events WHERE plugin_id = ?1 \
                 ORDER BY at DESC, id DESC LIMIT ?2",
                (&plugin, sql_limit(limit)),
            )
        })
        .await
    }

    /// The `limit` most recent events about any plugin, newest first.
    pub async fn all_recent_events(&self, limit: usize) -> Result<Vec<Event>, Error> {
        self.call("all_recent_events", None, move |conn| {
            query_events(
                conn,
                "SELECT id, plugin_id, at, kind, details FROM plugin_events \
                 ORDER BY at DESC, id DESC LIMIT ?1",
                (sql_limit(limit),),
            )
        })
        .await
    }

    /// Deletes events recorded strictly before `cutoff_unix_ms`, so the log does not grow
    /// forever. Returns how many were deleted. See also [`spawn_event_cleanup`].
    ///
    /// [`spawn_event_cleanup`]: super::spawn_event_cleanup
    pub async fn delete_events_older_than(&self, cutoff_unix_ms: i64) -> Result<usize, Error> {
        self.call("delete_events_older_than", None, move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM plugin_events WHERE at < ?1")?
                .execute([cutoff_unix_ms])?)
        })
        .await
    }
}

/// Runs an event query and parses the rows; an unknown `kind` is reported as corruption.
fn query_events(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Event>, OpError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
        ))
    })?;
    let mut events = Vec::new();
    for row in rows {
        let (id, plugin_id, at_unix_ms, kind, details) = row?;
        let kind = kind.parse().map_err(|e: UnknownEventKind| {
            OpError::Corrupt(format!("plugin_events row {id}: {e}"))
        })?;
        events.push(Event {
            id,
            plugin_id,
            at_unix_ms,
            kind,
            details,
        });
    }
    Ok(events)
}
