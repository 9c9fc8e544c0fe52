//! The plugin event log (the `plugin_events` table): what happened to each plugin and when,
//! for the UI's history view and for debugging crash loops.

use rusqlite::Connection;

use super::{Error, OpError, Store, now_unix_ms, sql_limit};

/// One entry of the plugin event log, as read back: `toru-api`'s, as the API sends it.
pub use toru_api::Event;
/// What happened to a plugin: `toru-api`'s kind, stored in the database as its snake_case name
/// ([`EventKind::as_str`]), which is also its name on the wire.
pub use toru_api::{EventKind, UnknownEventKind};

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
