//! Licence keys the administrator installed (the `plugin_licenses` table), one per plugin.
//!
//! The daemon keeps keys only to hand them to their plugin in `lifecycle.init`; it never holds
//! a vendor's secret and does not decide whether a key is valid (`docs/licensing.md`).

use rusqlite::{Connection, OptionalExtension};

use super::{Error, Store, now_unix_ms};

/// `plugin`'s key, read on `conn` (a transaction, for a backup).
pub(super) fn read_key(conn: &Connection, plugin: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT key FROM plugin_licenses WHERE plugin_id = ?1")?
        .query_row([plugin], |row| row.get(0))
        .optional()
}

/// Installs (`Some`) or removes (`None`) `plugin`'s key on `conn`; says whether a row changed.
pub(super) fn write_key(
    conn: &Connection,
    plugin: &str,
    key: Option<&str>,
) -> rusqlite::Result<bool> {
    let changed = match key {
        Some(key) => conn
            .prepare_cached(
                "INSERT INTO plugin_licenses (plugin_id, key, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (plugin_id) \
                 DO UPDATE SET key = excluded.key, updated_at = excluded.updated_at",
            )?
            .execute((plugin, key, now_unix_ms()))?,
        None => conn
            .prepare_cached("DELETE FROM plugin_licenses WHERE plugin_id = ?1")?
            .execute([plugin])?,
    };
    Ok(changed > 0)
}

impl Store {
    /// The key installed for `plugin_id`, if any.
    pub async fn license_key(&self, plugin_id: &str) -> Result<Option<String>, Error> {
        let plugin = plugin_id.to_owned();
        self.call("license_key", Some(plugin_id), move |conn| {
            Ok(read_key(conn, &plugin)?)
        })
        .await
    }

    /// Installs `key` for `plugin_id`, replacing any previous one. Durable once it returns.
    pub async fn set_license_key(&self, plugin_id: &str, key: &str) -> Result<(), Error> {
        let (plugin, key) = (plugin_id.to_owned(), key.to_owned());
        self.call("set_license_key", Some(plugin_id), move |conn| {
            write_key(conn, &plugin, Some(&key))?;
            Ok(())
        })
        .await
    }

    /// Removes `plugin_id`'s key. Returns whether there was one.
    pub async fn clear_license_key(&self, plugin_id: &str) -> Result<bool, Error> {
        let plugin = plugin_id.to_owned();
        self.call("clear_license_key", Some(plugin_id), move |conn| {
            Ok(write_key(conn, &plugin, None)?)
        })
        .await
    }
}
