//! The plugin event log: what happened to each plugin and when.

use std::fmt;
use std::str::FromStr;

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
    /// An administrator restarted the plugin (`toructl plugin restart`, the dashboard's
    /// Restart button).
    Restarted,
}

impl EventKind {
    /// Every kind, for exhaustive tests and UI filters.
    pub const ALL: [EventKind; 15] = [
        EventKind::Discovered,
        EventKind::DiscoveryFailed,
        EventKind::Enabled,
        EventKind::Disabled,
        EventKind::Started,
        EventKind::Stopped,
        EventKind::Crashed,
        EventKind::Restarting,
        EventKind::GaveUp,
        EventKind::Adopted,
        EventKind::Unhealthy,
        EventKind::Healthy,
        EventKind::LicenseSet,
        EventKind::LicenseCleared,
        EventKind::Restarted,
    ];

    /// The snake_case name, on the wire and in the daemon's database alike; the names are part
    /// of the on-disk format, so never rename one.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Discovered => "discovered",
            EventKind::DiscoveryFailed => "discovery_failed",
            EventKind::Enabled => "enabled",
            EventKind::Disabled => "disabled",
            EventKind::Started => "started",
            EventKind::Stopped => "stopped",
            EventKind::Crashed => "crashed",
            EventKind::Restarting => "restarting",
            EventKind::GaveUp => "gave_up",
            EventKind::Adopted => "adopted",
            EventKind::Unhealthy => "unhealthy",
            EventKind::Healthy => "healthy",
            EventKind::LicenseSet => "license_set",
            EventKind::LicenseCleared => "license_cleared",
            EventKind::Restarted => "restarted",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not the name of any [`EventKind`], e.g. read from a newer daemon's database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEventKind(pub String);

impl fmt::Display for UnknownEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown event kind {:?}", self.0)
    }
}

impl std::error::Error for UnknownEventKind {}

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    /// Parses the name [`EventKind::as_str`] gives (exact, case-sensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownEventKind(s.to_owned()))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// serde's name of every kind is `as_str`'s, so the database and the API agree on the words.
    #[test]
    fn every_event_kind_has_one_name_on_the_wire_and_on_disk() {
        for kind in EventKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_str())
            );
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        }
        assert!("Crashed".parse::<EventKind>().is_err());
    }
}
