//! The plugin event log: what happened to each plugin and when.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::{IntoParams, ToSchema};

/// What happened to a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The plugin was found on disk and its metadata read.
    Discovered,
    /// A plugin file was found but could not be loaded.
    DiscoveryFailed,
    /// An administrator enabled the plugin.
    Enabled,
    /// An administrator disabled the plugin.
    Disabled,
    /// The plugin's process was started.
    Started,
    /// The plugin's process was stopped on purpose.
    Stopped,
    /// The plugin's process exited unexpectedly.
    Crashed,
    /// The supervisor is restarting the plugin after a crash.
    Restarting,
    /// The supervisor stopped restarting the plugin (too many crashes).
    GaveUp,
    /// The daemon took over a plugin process that was already running.
    Adopted,
    /// The plugin stopped answering health checks.
    Unhealthy,
    /// The plugin answers health checks again.
    Healthy,
    /// An administrator installed or replaced the plugin's licence key.
    LicenseSet,
    /// An administrator removed the plugin's licence key.
    LicenseCleared,
}

/// One entry of the plugin event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Event {
    /// Increases with insertion order.
    pub id: i64,
    /// The plugin the event is about.
    pub plugin_id: String,
    /// When it was recorded, in ms since the Unix epoch.
    pub at_unix_ms: i64,
    /// What happened.
    pub kind: EventKind,
    /// Human-readable details (exit status, error message, …); may be empty.
    pub details: String,
}

/// The query of `GET /api/events`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// How many events, newest first: 1–1000, default 100.
    pub limit: Option<usize>,
    /// Only this plugin's events.
    pub plugin: Option<String>,
}
