//! What the daemon knows about a plugin right now, as the API and the CLI show it. The status
//! is computed from the plugin's `Lifecycle`, never set field by
//! field.

use std::path::PathBuf;

use toru_plugin_api::{PluginId, PluginMetadata};

use super::license::LicenseStatus;

/// Where a plugin is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginState {
    /// Not enabled; nothing runs.
    Disabled,
    /// Being started or connected to.
    Starting,
    /// Running, connected and initialised: its routes are served.
    Running,
    /// Crashed; waiting before the next start.
    Backoff,
    /// Being stopped.
    Stopping,
    /// Gave up after too many consecutive failures; disabled until an admin enables it again.
    Failed,
}

/// A snapshot of one plugin's runtime status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginStatus {
    /// Whether the admin wants it running (see `lifecycle.rs` for its value in each state).
    pub enabled: bool,
    /// Lifecycle state.
    pub state: PluginState,
    /// Whether it answers pings; `false` in every state but `running`.
    pub healthy: bool,
    /// Main PID while it has a process: `starting` (once launched), `running`, `stopping`.
    pub pid: Option<u32>,
    /// The systemd unit under the systemd backend, while it has a process.
    pub unit: Option<String>,
    /// Restarts after failures since it was last enabled.
    pub restarts: u32,
    /// Failures in a row; reset after a stable run.
    pub consecutive_failures: u32,
    /// The most recent failure, for the admin.
    pub last_error: Option<String>,
}

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
}
