//! Licence keys the administrator installed (the `plugin_licenses` table), one per plugin.
//!
//! The daemon keeps keys only to hand them to their plugin in `lifecycle.init`; it never holds
//! a vendor's secret and does not decide whether a key is valid (`docs/licensing.md`).

use rusqlite::OptionalExtension;

use super::{Error, Store, now_unix_ms};

impl Store {
    /// The key installed for `plugin_id`, if any.
    pub async fn license_key(&self, plugin_id: &str) -> Result<Option<String>, Error> {
        let plugin = plugin_id.to_owned();
        self.call("license_key", Some(plugin_id), move |conn| {
            Ok(conn
                .prepare_cached("SELECT key FROM plugin_licenses WHERE plugin_id = ?1")?
                .query_row([&plugin], |row| row.get(0))
                .optional()?)
        })
        .await
    }

    /// Installs `key` for `plugin_id`, replacing any previous one. Durable once it returns.
    pub async fn set_license_key(&self, plugin_id: &str, key: &str) -> Result<(), Error> {
        let (plugin, key) = (plugin_id.to_owned(), key.to_owned());
        self.call("set_license_key", Some(plugin_id), move |conn| {
            conn.prepare_cached(
                "INSERT INTO plugin_licenses (plugin_id, key, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (plugin_id) \
                 DO UPDATE SET key = excluded.key, updated_at = excluded.updated_at",
            )?
            .execute((&plugin, &key, now_unix_ms()))?;
            Ok(())
        })
        .await
    }

    /// Removes `plugin_id`'s key. Returns whether there was one.
    pub async fn clear_license_key(&self, plugin_id: &str) -> Result<bool, Error> {
        let plugin = plugin_id.to_owned();
        self.call("clear_license_key", Some(plugin_id), move |conn| {
            let n = conn
                .prepare_cached("DELETE FROM plugin_licenses WHERE plugin_id = ?1")?
                .execute([&plugin])?;
            Ok(n > 0)
        })
        .await
    }
}
