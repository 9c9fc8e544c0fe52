//! What the daemon knows about a plugin right now, as the API and the CLI show it.

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
    /// Whether the admin wants it running.
    pub enabled: bool,
    /// Lifecycle state.
    pub state: PluginState,
    /// Whether it answers pings. Only meaningful while running.
    pub healthy: bool,
    /// Main PID while running.
    pub pid: Option<u32>,
    /// The systemd unit, under the systemd backend.
    pub unit: Option<String>,
    /// Restarts after failures since it was last enabled.
    pub restarts: u32,
    /// Failures in a row; reset after a stable run.
    pub consecutive_failures: u32,
    /// The most recent failure, for the admin.
    pub last_error: Option<String>,
}

impl PluginStatus {
    /// The status of a plugin that is not enabled.
    pub fn disabled() -> Self {
        PluginStatus {
            enabled: false,
            state: PluginState::Disabled,
            healthy: false,
            pid: None,
            unit: None,
            restarts: 0,
            consecutive_failures: 0,
            last_error: None,
        }
    }
}
