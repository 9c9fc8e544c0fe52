//! The resource limits an administrator set for each plugin (the `plugin_limits` table): one
//! row per plugin with a limit set, each column `NULL` where the configured default applies.
//! Validated by the caller (`toru_api::limits`); the table's CHECKs refuse what no limit can be.

use rusqlite::{Connection, OptionalExtension};
use toru_api::LimitValues;

use super::{Error, Store, now_unix_ms};

/// `plugin`'s limit overrides as stored (all `None` without a row), read on `conn`.
pub(super) fn read_limits(conn: &Connection, plugin: &str) -> rusqlite::Result<LimitValues> {
    let row = conn
        .prepare_cached(
            "SELECT memory_max_bytes, cpu_quota_percent, tasks_max \
             FROM plugin_limits WHERE plugin_id = ?1",
        )?
        .query_row([plugin], |row| {
            Ok(LimitValues {
                memory_max_bytes: unsigned(row.get(0)?),
                cpu_quota_percent: row.get(1)?,
                tasks_max: unsigned(row.get(2)?),
            })
        })
        .optional()?;
    Ok(row.unwrap_or_default())
}

/// Stores `limits` as `plugin`'s overrides on `conn`, deleting the row when none is set; says
/// whether a row changed.
pub(super) fn write_limits(
    conn: &Connection,
    plugin: &str,
    limits: &LimitValues,
) -> rusqlite::Result<bool> {
    let changed = if limits.is_empty() {
        conn.prepare_cached("DELETE FROM plugin_limits WHERE plugin_id = ?1")?
            .execute([plugin])?
    } else {
        conn.prepare_cached(
            "INSERT INTO plugin_limits \
             (plugin_id, memory_max_bytes, cpu_quota_percent, tasks_max, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (plugin_id) DO UPDATE SET \
             memory_max_bytes = excluded.memory_max_bytes, \
             cpu_quota_percent = excluded.cpu_quota_percent, \
             tasks_max = excluded.tasks_max, updated_at = excluded.updated_at",
        )?
        .execute((
            plugin,
            limits.memory_max_bytes.map(signed),
            limits.cpu_quota_percent,
            limits.tasks_max.map(signed),
            now_unix_ms(),
        ))?
    };
    Ok(changed > 0)
}

/// SQLite's integers are `i64`; the table's CHECK keeps these positive.
fn unsigned(value: Option<i64>) -> Option<u64> {
    value.and_then(|v| u64::try_from(v).ok())
}

/// A limit as SQLite stores it; `toru_api::limits` bounds every limit far below `i64::MAX`.
fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Store {
    /// The resource limits set for `plugin_id` (all `None` when none is).
    pub async fn plugin_limits(&self, plugin_id: &str) -> Result<LimitValues, Error> {
        let plugin = plugin_id.to_owned();
        self.call("plugin_limits", Some(plugin_id), move |conn| {
            Ok(read_limits(conn, &plugin)?)
        })
        .await
    }

    /// Stores `limits` as the limits set for `plugin_id`, replacing what was there; all `None`
    /// deletes them. Durable once it returns.
    pub async fn set_plugin_limits(
        &self,
        plugin_id: &str,
        limits: LimitValues,
    ) -> Result<(), Error> {
        let plugin = plugin_id.to_owned();
        self.call("set_plugin_limits", Some(plugin_id), move |conn| {
            write_limits(conn, &plugin, &limits)?;
            Ok(())
        })
        .await
    }
}
