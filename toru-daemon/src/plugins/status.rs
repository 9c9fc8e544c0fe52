//! What the daemon knows about a plugin right now, as the API and the CLI show it. The status
//! is computed from the plugin's `Lifecycle`, never set field by
//! field.

use std::path::PathBuf;

use toru_plugin_api::{PluginId, PluginMetadata};

use super::license::LicenseStatus;
use super::trust::SignatureStatus;

/// Where a plugin is in its lifecycle, and the snapshot clients see: `toru-api`'s types, which
/// `Lifecycle::status` builds (`enabled` per state is explained in `lifecycle.rs`; `healthy` is
/// `false` in every state but `running`; `pid` and `unit` are set while a process exists).
pub use toru_api::{PluginState, PluginStatus};

/// A plugin as the API shows it: metadata plus runtime status.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    /// Its id, checked at discovery (the same text as `meta.id`).
    pub id: PluginId,
    /// What the plugin says about itself.
    pub meta: PluginMetadata,
    /// Its executable.
    pub binary: PathBuf,
    /// What the daemon knows about it now.
    pub status: PluginStatus,
    /// Its licence key and the plugin's verdict on it.
    pub license: LicenseStatus,
    /// Whether its binary is signed by a trusted key, as last checked.
    pub signature: SignatureStatus,
    /// The version kept for a rollback, if any.
    pub previous_version: Option<String>,
    /// Its resource figures while a process of it runs and has been sampled.
    pub usage: Option<super::usage::UsageNow>,
}
