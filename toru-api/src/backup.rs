//! Backups: the manifest at the head of a whole backup (`GET /api/backup`, a tar archive) and a
//! plugin's backup (`GET /api/plugins/{id}/backup`, one JSON document). Both are files that
//! outlive the daemon that wrote them, so their shapes are versioned (`format_version`) and a
//! daemon refuses a version it does not know rather than guess (docs/operations.md, "Back up
//! and restore").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// Which of the two backup documents a file is, so each restore refuses the other's file with
/// a message that says which command takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub enum BackupFormat {
    /// A whole daemon's backup: `toructl backup`.
    #[serde(rename = "toru-backup")]
    Whole,
    /// One plugin's data: `toructl plugin backup ID`.
    #[serde(rename = "toru-plugin-backup")]
    Plugin,
}

/// The version of both documents this crate writes and reads.
pub const BACKUP_FORMAT_VERSION: u32 = 1;

/// `toru-backup.json`, the first member of a whole backup's tar archive. The other members are
/// `toru.db` (the database, a consistent snapshot), `enabled.json` (which plugins were enabled,
/// the daemon's `config.json`) and, when the daemon read one, `toru.toml` (for the record: a
/// restore does not install it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct BackupManifest {
    /// Always [`BackupFormat::Whole`].
    pub format: BackupFormat,
    /// [`BACKUP_FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The Toru version that wrote it.
    pub toru_version: String,
    /// The database's schema version: a daemon restores only versions it knows (its own or
    /// older, which it migrates).
    pub schema_version: u32,
    /// The installation the backup was taken from; restoring it makes this daemon that
    /// installation again (licence keys are bound to it).
    pub instance_id: String,
    /// When it was taken, milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// One plugin's data: its KV entries, its settings and its licence key. Restoring it replaces
/// all three (a key absent from the backup is deleted) and re-initialises the plugin if it
/// runs. Holds the plugin's secrets and licence: keep the file like a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct PluginBackup {
    /// Always [`BackupFormat::Plugin`].
    pub format: BackupFormat,
    /// [`BACKUP_FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The plugin's id; a backup restores only into the plugin it came from.
    pub plugin: String,
    /// The plugin's version when the backup was taken, for the record.
    pub plugin_version: String,
    /// When it was taken, milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Every KV entry, by key.
    pub kv: BTreeMap<String, String>,
    /// The installed licence key, if any.
    pub license_key: Option<String>,
    /// The settings set for it (no defaults filled in), secrets included. Restored only if the
    /// plugin's current schema accepts them.
    #[serde(default)]
    #[ts(type = "Record<string, unknown>")]
    pub settings: BTreeMap<String, serde_json::Value>,
}

/// What `POST /api/restore` accepted: the backup it staged, which the daemon loads as it
/// restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct RestoreStaged {
    /// The staged backup's manifest.
    pub manifest: BackupManifest,
    /// Plugins the backup enables.
    pub enabled: Vec<String>,
}

/// What `POST /api/plugins/{id}/restore` replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct PluginRestored {
    /// The plugin.
    pub plugin: String,
    /// KV entries it now has.
    pub kv_entries: usize,
    /// Whether it now has a licence key.
    pub license_key: bool,
    /// Whether it was running and so was re-initialised with the restored data.
    pub reinitialised: bool,
}
