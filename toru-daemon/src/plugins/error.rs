//! The errors of the plugin core as the API sees them: each variant says which plugin and what
//! went wrong, and keeps its cause as a `source` so the whole chain reaches the log. Which HTTP
//! status each becomes is decided in `api/error.rs`, not here.

use std::path::PathBuf;

use toru_plugin_api::PluginId;

use super::backend::BackendError;
use super::connection::ConnectionError;
use super::enabled::LoadError;
use super::plugin_config::InvalidSettings;
use super::status::PluginState;

/// Errors of plugin management, with the plugin they concern.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No discovered plugin has this id.
    #[error("no plugin with id {0:?}")]
    UnknownPlugin(String),
    /// The enabled state could not be saved; nothing was changed.
    #[error("cannot save the enabled state of {plugin_id}")]
    Persist {
        /// The plugin.
        plugin_id: String,
        /// Why.
        source: std::io::Error,
    },
    /// The enabled-state file exists but is unusable.
    #[error("cannot load the enabled plugins")]
    EnabledState(#[from] LoadError),
    /// A blocking task the manager waited for was cancelled or panicked.
    #[error("a blocking task of the plugin manager was interrupted")]
    Interrupted(#[from] tokio::task::JoinError),
    /// Scanning the plugins directory failed.
    #[error("cannot scan the plugins directory {dir}")]
    Scan {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Settings an administrator gave were refused (or a required one is missing); nothing
    /// was changed. The text names the setting and never holds a secret.
    #[error("invalid settings for plugin {plugin_id}: {source}")]
    InvalidSettings {
        /// The plugin.
        plugin_id: PluginId,
        /// Which setting, and why.
        source: InvalidSettings,
    },
    /// Resource limits that cannot be applied; nothing was changed. The text names the limit.
    #[error("invalid limits for plugin {plugin_id}: {source}")]
    InvalidLimits {
        /// The plugin.
        plugin_id: PluginId,
        /// Which limit, and why.
        source: toru_api::InvalidLimit,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// The backend failed outside any one plugin.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// An uploaded binary is not a plugin; nothing was installed.
    #[error("not a plugin: {reason}")]
    InvalidPlugin {
        /// What discovery found wrong with it, as a scan would show it.
        reason: String,
    },
    /// An upgraded plugin did not stay healthy, so its previous version was put back.
    #[error("the upgrade of {plugin_id} to {version} failed and was rolled back: {reason}")]
    UpgradeFailed {
        /// The plugin.
        plugin_id: PluginId,
        /// The version that failed.
        version: String,
        /// What went wrong in the health window.
        reason: String,
    },
    /// A rollback was asked for a plugin with no previous version kept.
    #[error("plugin {0} has no previous version to roll back to")]
    NoPreviousVersion(PluginId),
    /// Moving a plugin's files failed.
    #[error("cannot {action} the files of plugin {plugin_id}")]
    Files {
        /// The plugin, or the upload's id.
        plugin_id: String,
        /// What was being done: `install`, `keep the previous version of`, …
        action: &'static str,
        /// The cause.
        source: std::io::Error,
    },
}

/// Why a request could not be forwarded to a plugin.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// Unknown or not enabled: its routes do not exist.
    #[error("no enabled plugin with id {0:?}")]
    NotFound(String),
    /// Enabled but not running right now (starting, restarting, failed).
    #[error("plugin {plugin_id} is not available ({state})")]
    Unavailable {
        /// The plugin.
        plugin_id: PluginId,
        /// Its state.
        state: PluginState,
    },
    /// The plugin did not answer in time.
    #[error("plugin {0} did not answer in time")]
    Timeout(PluginId),
    /// The plugin is busy or its connection died mid-request.
    #[error(transparent)]
    Gone(ConnectionError),
    /// The plugin answered with a protocol error.
    #[error(transparent)]
    Plugin(ConnectionError),
    /// A `license_required` plugin has no valid licence; the daemon answers for it.
    #[error("{}", .0.message())]
    Unlicensed(super::license::LicenseRefusal),
}
