//! The settings an administrator gave each plugin (the `plugin_settings` table): one JSON
//! object per plugin id, already validated against the plugin's schema by the caller.
//!
//! The store keeps the text as it is given and knows nothing of schemas; it only refuses text
//! over [`MAX_PLUGIN_SETTINGS`] (as the table's CHECK does), so a bug elsewhere cannot grow a
//! row without limit.

use rusqlite::{Connection, OptionalExtension};

use super::{Error, Store, now_unix_ms};

/// `plugin`'s settings as stored, read on `conn` (a transaction, for a backup).
pub(super) fn read_settings(conn: &Connection, plugin: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT settings FROM plugin_settings WHERE plugin_id = ?1")?
        .query_row([plugin], |row| row.get(0))
        .optional()
}

/// Stores (`Some`) or deletes (`None`) `plugin`'s settings on `conn`; says whether a row
/// changed. The table's CHECK refuses text over [`MAX_PLUGIN_SETTINGS`].
pub(super) fn write_settings(
    conn: &Connection,
    plugin: &str,
    json: Option<&str>,
) -> rusqlite::Result<bool> {
    let changed = match json {
        Some(json) => conn
            .prepare_cached(
                "INSERT INTO plugin_settings (plugin_id, settings, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (plugin_id) \
                 DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
            )?
            .execute((plugin, json, now_unix_ms()))?,
        None => conn
            .prepare_cached("DELETE FROM plugin_settings WHERE plugin_id = ?1")?
            .execute([plugin])?,
    };
    Ok(changed > 0)
}

/// At most this many bytes of JSON per plugin.
pub const MAX_PLUGIN_SETTINGS: usize = 64 * 1024;

impl Store {
    /// The settings stored for `plugin_id` as JSON text, if any were ever set.
    pub async fn plugin_settings(&self, plugin_id: &str) -> Result<Option<String>, Error> {
        let plugin = plugin_id.to_owned();
        self.call("plugin_settings", Some(plugin_id), move |conn| {
            Ok(read_settings(conn, &plugin)?)
        })
        .await
    }

    /// Stores `json` as `plugin_id`'s settings, replacing what was there. Durable once it
    /// returns. Text over [`MAX_PLUGIN_SETTINGS`] is [`Error::SettingsTooLarge`].
    pub async fn set_plugin_settings(&self, plugin_id: &str, json: String) -> Result<(), Error> {
        if json.len() > MAX_PLUGIN_SETTINGS {
            return Err(Error::SettingsTooLarge {
                plugin_id: plugin_id.to_owned(),
                size: json.len(),
                max: MAX_PLUGIN_SETTINGS,
            });
        }
        let plugin = plugin_id.to_owned();
        self.call("set_plugin_settings", Some(plugin_id), move |conn| {
            write_settings(conn, &plugin, Some(&json))?;
            Ok(())
        })
        .await
    }
}
