//! The event log (the `events` table): what happened to each plugin and when, for the UI's
//! history view and for debugging crash loops, and who changed what through the API (the audit
//! trail).

use rusqlite::Connection;
use rusqlite::types::Value;

use super::{Error, OpError, Store, now_unix_ms, sql_limit};

/// One entry of the event log, as read back: `toru-api`'s, as the API sends it.
pub use toru_api::Event;
/// What happened: `toru-api`'s kind, stored in the database as its snake_case name
/// ([`EventKind::as_str`]), which is also its name on the wire.
pub use toru_api::{Actor, EventKind, UnknownEventKind};

/// Most events kept, whatever their age: past it, each new event deletes the oldest. Pruning
/// by age (`event_retention_days`) bounds the log in time; this bounds it in rows, against an
/// administrator's script (or a stolen admin session) writing KV entries in a loop, each of
/// which is an audit event. 100 000 rows of a few hundred bytes are tens of MiB.
pub const MAX_EVENTS: i64 = 100_000;

/// An event to record: what it is about, what happened, and who did it.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    /// The plugin it is about, if any.
    pub plugin_id: Option<&'a str>,
    /// The dashboard user it is about, if any.
    pub user: Option<&'a str>,
    /// What happened.
    pub kind: EventKind,
    /// Human-readable details; may be empty.
    pub details: &'a str,
    /// Who caused it through the API; `None` for what the daemon did on its own.
    pub actor: Option<&'a Actor>,
}

impl<'a> NewEvent<'a> {
    /// Something that happened to a plugin.
    pub fn plugin(plugin_id: &'a str, kind: EventKind, details: &'a str) -> Self {
        NewEvent {
            plugin_id: Some(plugin_id),
            user: None,
            kind,
            details,
            actor: None,
        }
    }

    /// A change to a dashboard user.
    pub fn user(user: &'a str, kind: EventKind, details: &'a str) -> Self {
        NewEvent {
            user: Some(user),
            plugin_id: None,
            kind,
            details,
            actor: None,
        }
    }

    /// Something about the installation as a whole (a rescan).
    pub fn daemon(kind: EventKind, details: &'a str) -> Self {
        NewEvent {
            plugin_id: None,
            user: None,
            kind,
            details,
            actor: None,
        }
    }

    /// The same event, caused by `actor` through the API.
    pub fn by(self, actor: &'a Actor) -> Self {
        NewEvent {
            actor: Some(actor),
            ..self
        }
    }
}

/// Which events to read: every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this plugin's events.
    pub plugin_id: Option<String>,
    /// Only events of this kind.
    pub kind: Option<EventKind>,
    /// Only changes made by this actor, matched as [`Actor::matches`] does: a name, or
    /// `uid N` for a local caller.
    pub actor: Option<String>,
}

impl EventFilter {
    /// The events of one plugin.
    pub fn plugin(plugin_id: &str) -> Self {
        EventFilter {
            plugin_id: Some(plugin_id.to_owned()),
            ..EventFilter::default()
        }
    }

    /// Whether `event` passes this filter, as the query of [`EventFilter::to_sql`] decides
    /// in the database; the live feed filters with it.
    pub fn matches(&self, event: &Event) -> bool {
        self.plugin_id
            .as_ref()
            .is_none_or(|plugin| event.plugin_id.as_ref() == Some(plugin))
            && self.kind.is_none_or(|kind| event.kind == kind)
            && self.actor.as_ref().is_none_or(|wanted| {
                event
                    .actor
                    .as_ref()
                    .is_some_and(|actor| actor.matches(wanted))
            })
    }

    /// The `WHERE` clause (empty when nothing is filtered) and its parameters. Each condition
    /// is added only when given, so the plugin index serves a plugin's events.
    fn to_sql(&self) -> (String, Vec<Value>) {
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        if let Some(plugin) = &self.plugin_id {
            params.push(Value::Text(plugin.clone()));
            conditions.push(format!("plugin_id = ?{}", params.len()));
        }
        if let Some(kind) = self.kind {
            params.push(Value::Text(kind.as_str().to_owned()));
            conditions.push(format!("kind = ?{}", params.len()));
        }
        if let Some(actor) = &self.actor {
            params.push(Value::Text(actor.clone()));
            let mut condition = format!("actor_name = ?{}", params.len());
            if let Some(uid) = Actor::uid_named(actor) {
                params.push(Value::Integer(i64::from(uid)));
                condition = format!(
                    "({condition} OR (actor_via = '{LOCAL_SOCKET}' AND actor_uid = ?{}))",
                    params.len()
                );
            }
            conditions.push(condition);
        }
        if conditions.is_empty() {
            (String::new(), params)
        } else {
            (format!("WHERE {}", conditions.join(" AND ")), params)
        }
    }
}

/// `actor_via` of a dashboard user.
const PASSWORD: &str = "password";
/// `actor_via` of a local-socket caller.
const LOCAL_SOCKET: &str = "local_socket";

impl Store {
    /// Appends an event to the log, stamped with the current time, and deletes the oldest
    /// past [`MAX_EVENTS`]. Once committed, the event as stored (with its id) goes to every
    /// subscriber of the live feed ([`Store::follow_events`]), and is returned.
    pub async fn record_event(&self, event: NewEvent<'_>) -> Result<Event, Error> {
        let plugin = event.plugin_id.map(str::to_owned);
        let user = event.user.map(str::to_owned);
        let (kind, details) = (event.kind, event.details.to_owned());
        let (via, name, uid, address) = match event.actor {
            None => (None, None, None, None),
            Some(Actor::Password { name, address }) => {
                (Some(PASSWORD), Some(name.clone()), None, address.clone())
            }
            Some(Actor::LocalSocket { uid, name }) => {
                (Some(LOCAL_SOCKET), Some(name.clone()), Some(*uid), None)
            }
        };
        let actor = event.actor.cloned();
        let feed = self.inner.feed.clone();
        self.call("record_event", event.plugin_id, move |conn| {
            let at_unix_ms = now_unix_ms();
            let tx = conn.transaction()?;
            tx.prepare_cached(
                "INSERT INTO events (plugin_id, user_name, at, kind, details, \
                 actor_via, actor_name, actor_uid, actor_address) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(rusqlite::params![
                plugin,
                user,
                at_unix_ms,
                kind.as_str(),
                details,
                via,
                name,
                uid,
                address
            ])?;
            // Ids only grow, so the rows past the cap are those at or below the new id minus
            // the cap: one primary-key range, nothing to scan when there are none.
            let newest = tx.last_insert_rowid();
            tx.prepare_cached("DELETE FROM events WHERE id <= ?1")?
                .execute([newest.saturating_sub(MAX_EVENTS)])?;
            tx.commit()?;
            let recorded = Event {
                id: newest,
                plugin_id: plugin,
                user,
                at_unix_ms,
                kind,
                details,
                actor,
            };
            // Sent while this call still holds the connection, so the feed carries events in
            // the order of their ids. `send` never waits: a subscriber that lags loses the
            // oldest and reads them back from this table (`feed.rs`); none at all is fine.
            let _ = feed.send(recorded.clone());
            Ok(recorded)
        })
        .await
    }

    /// Records an event and never fails the caller: losing an event row must not stop
    /// supervision, nor undo a change an administrator made (it is logged instead).
    pub async fn record_event_or_log(&self, event: NewEvent<'_>) {
        if let Err(e) = self.record_event(event).await.map(drop) {
            tracing::error!(
                plugin = event.plugin_id,
                user = event.user,
                kind = %event.kind,
                error = %e,
                "cannot record an event"
            );
        }
    }

    /// The `limit` most recent events that pass `filter`, newest first.
    pub async fn events(&self, filter: &EventFilter, limit: usize) -> Result<Vec<Event>, Error> {
        let (condition, mut params) = filter.to_sql();
        params.push(Value::Integer(sql_limit(limit)));
        let sql = format!(
            "SELECT id, plugin_id, user_name, at, kind, details, \
             actor_via, actor_name, actor_uid, actor_address FROM events {condition} \
             ORDER BY at DESC, id DESC LIMIT ?{}",
            params.len()
        );
        self.call("events", filter.plugin_id.as_deref(), move |conn| {
            query_events(conn, &sql, rusqlite::params_from_iter(params))
        })
        .await
    }

    /// The first `limit` events after the one with id `after` that pass `filter`, oldest
    /// first: what a follower missed.
    pub async fn events_after(
        &self,
        filter: &EventFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Event>, Error> {
        let (condition, mut params) = filter.to_sql();
        params.push(Value::Integer(after));
        let after_param = params.len();
        params.push(Value::Integer(sql_limit(limit)));
        let condition = if condition.is_empty() {
            format!("WHERE id > ?{after_param}")
        } else {
            format!("{condition} AND id > ?{after_param}")
        };
        let sql = format!(
            "SELECT id, plugin_id, user_name, at, kind, details, \
             actor_via, actor_name, actor_uid, actor_address FROM events {condition} \
             ORDER BY id ASC LIMIT ?{}",
            params.len()
        );
        self.call("events_after", filter.plugin_id.as_deref(), move |conn| {
            query_events(conn, &sql, rusqlite::params_from_iter(params))
        })
        .await
    }

    /// The `limit` most recent events about `plugin_id`, newest first.
    pub async fn recent_events(&self, plugin_id: &str, limit: usize) -> Result<Vec<Event>, Error> {
        self.events(&EventFilter::plugin(plugin_id), limit).await
    }

    /// Deletes events recorded strictly before `cutoff_unix_ms`, so the log does not grow
    /// forever. Returns how many were deleted. See also [`spawn_event_cleanup`].
    ///
    /// [`spawn_event_cleanup`]: super::spawn_event_cleanup
    pub async fn delete_events_older_than(&self, cutoff_unix_ms: i64) -> Result<usize, Error> {
        self.call("delete_events_older_than", None, move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM events WHERE at < ?1")?
                .execute([cutoff_unix_ms])?)
        })
        .await
    }
}

/// One row of `events` as read, before its kind and actor are checked.
struct Row {
    id: i64,
    plugin_id: Option<String>,
    user: Option<String>,
    at_unix_ms: i64,
    kind: String,
    details: String,
    actor_via: Option<String>,
    actor_name: Option<String>,
    actor_uid: Option<u32>,
    actor_address: Option<String>,
}

impl Row {
    /// The event, or corruption when its kind or actor is not one this build knows.
    fn into_event(self) -> Result<Event, OpError> {
        let id = self.id;
        let corrupt = |what: String| OpError::Corrupt(format!("events row {id}: {what}"));
        let kind = self
            .kind
            .parse()
            .map_err(|e: UnknownEventKind| corrupt(e.to_string()))?;
        let actor = match (self.actor_via.as_deref(), self.actor_name, self.actor_uid) {
            (None, _, _) => None,
            (Some(PASSWORD), Some(name), _) => Some(Actor::Password {
                name,
                address: self.actor_address,
            }),
            (Some(LOCAL_SOCKET), Some(name), Some(uid)) => Some(Actor::LocalSocket { uid, name }),
            (Some(via), _, _) => return Err(corrupt(format!("incomplete actor {via:?}"))),
        };
        Ok(Event {
            id,
            plugin_id: self.plugin_id,
            user: self.user,
            at_unix_ms: self.at_unix_ms,
            kind,
            details: self.details,
            actor,
        })
    }
}

/// Runs an event query and parses the rows; an unknown `kind` or a half-written actor is
/// reported as corruption.
fn query_events(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Event>, OpError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| {
        Ok(Row {
            id: row.get(0)?,
            plugin_id: row.get(1)?,
            user: row.get(2)?,
            at_unix_ms: row.get(3)?,
            kind: row.get(4)?,
            details: row.get(5)?,
            actor_via: row.get(6)?,
            actor_name: row.get(7)?,
            actor_uid: row.get(8)?,
            actor_address: row.get(9)?,
        })
    })?;
    rows.map(|row| row?.into_event()).collect()
}
