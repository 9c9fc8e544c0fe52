//! Forgetting a plugin's data when an administrator uninstalls it with `--purge`.

use toru_api::LimitValues;

use super::{Error, Store, licenses, plugin_limits, plugin_settings};

/// What [`Store::purge_plugin`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    /// KV entries deleted.
    pub kv_entries: u64,
    /// Whether a licence key was deleted.
    pub license: bool,
    /// Whether settings were deleted.
    pub settings: bool,
    /// Whether resource limit overrides were deleted.
    pub limits: bool,
}

impl Store {
    /// Deletes everything the daemon keeps for `plugin_id` — its KV data, licence key,
    /// settings and resource limits — in one transaction, so a purge is all or nothing. Events stay: they are the audit trail.
    pub async fn purge_plugin(&self, plugin_id: &str) -> Result<Purged, Error> {
        let plugin = plugin_id.to_owned();
        self.call("purge_plugin", Some(plugin_id), move |conn| {
            let tx = conn.transaction()?;
            let kv_entries = tx.execute("DELETE FROM plugin_kv WHERE plugin_id = ?1", [&plugin])?;
            let license = licenses::write_key(&tx, &plugin, None)?;
            let settings = plugin_settings::write_settings(&tx, &plugin, None)?;
            let limits = plugin_limits::write_limits(&tx, &plugin, &LimitValues::default())?;
            tx.commit()?;
            Ok(Purged {
                kv_entries: kv_entries as u64,
                license,
                settings,
                limits,
            })
        })
        .await
    }
}
