//! The event log: what happened to each plugin, and who changed what (the audit trail).

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
    /// An administrator wrote a key of the plugin's store through the API.
    KvSet,
    /// An administrator deleted a key of the plugin's store through the API.
    KvDeleted,
    /// An administrator had the plugins directory scanned again.
    Rescanned,
    /// An administrator added a dashboard user.
    UserCreated,
    /// A dashboard user was deleted.
    UserDeleted,
    /// A dashboard user was disabled: they cannot log in, their sessions ended.
    UserDisabled,
    /// A disabled dashboard user was enabled again.
    UserEnabled,
    /// A dashboard user's role changed.
    UserRoleChanged,
    /// A dashboard user's password was set.
    PasswordChanged,
    /// The daemon started from a whole backup an administrator restored (`toructl restore`).
    BackupRestored,
    /// An administrator restored a plugin's data from its backup (`toructl plugin restore`).
    PluginDataRestored,
    /// With `signatures = "enforce"`, a plugin binary was refused: unsigned, badly signed, or
    /// changed since the daemon verified it (`docs/signing.md`).
    SignatureRefused,
    /// An administrator installed a new plugin (`POST /api/plugins`); details name the version.
    Installed,
    /// An administrator upgraded the plugin and the new version stayed healthy ("1.0.0 → 1.1.0").
    Upgraded,
    /// An upgrade failed its health window and the previous version was put back; details say why.
    UpgradeFailed,
    /// An administrator swapped the plugin back to its previous version.
    RolledBack,
    /// An administrator removed the plugin's binary (and, with purge, its data).
    Uninstalled,
    /// An administrator changed the plugin's settings; the details name the changed settings,
    /// never their values.
    SettingsChanged,
    /// A webhook delivery failed for good: every attempt failed, the receiver refused it, or
    /// it was dropped from a full queue. Never itself sent to webhooks, so a broken receiver
    /// cannot make a loop.
    WebhookFailed,
    /// An administrator changed the plugin's resource limits (memory, CPU, tasks); the details
    /// give the new effective limits.
    LimitsChanged,
}

impl EventKind {
    /// Every kind, for exhaustive tests and UI filters.
    pub const ALL: [EventKind; 35] = [
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
        EventKind::KvSet,
        EventKind::KvDeleted,
        EventKind::Rescanned,
        EventKind::UserCreated,
        EventKind::UserDeleted,
        EventKind::UserDisabled,
        EventKind::UserEnabled,
        EventKind::UserRoleChanged,
        EventKind::PasswordChanged,
        EventKind::BackupRestored,
        EventKind::PluginDataRestored,
        EventKind::SignatureRefused,
        EventKind::Installed,
        EventKind::Upgraded,
        EventKind::UpgradeFailed,
        EventKind::RolledBack,
        EventKind::Uninstalled,
        EventKind::SettingsChanged,
        EventKind::WebhookFailed,
        EventKind::LimitsChanged,
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
            EventKind::KvSet => "kv_set",
            EventKind::KvDeleted => "kv_deleted",
            EventKind::Rescanned => "rescanned",
            EventKind::UserCreated => "user_created",
            EventKind::UserDeleted => "user_deleted",
            EventKind::UserDisabled => "user_disabled",
            EventKind::UserEnabled => "user_enabled",
            EventKind::UserRoleChanged => "user_role_changed",
            EventKind::PasswordChanged => "password_changed",
            EventKind::BackupRestored => "backup_restored",
            EventKind::PluginDataRestored => "plugin_data_restored",
            EventKind::SignatureRefused => "signature_refused",
            EventKind::Installed => "installed",
            EventKind::Upgraded => "upgraded",
            EventKind::UpgradeFailed => "upgrade_failed",
            EventKind::RolledBack => "rolled_back",
            EventKind::Uninstalled => "uninstalled",
            EventKind::SettingsChanged => "settings_changed",
            EventKind::WebhookFailed => "webhook_failed",
            EventKind::LimitsChanged => "limits_changed",
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

/// Who made a change through the API: the audit trail's "who". Events the daemon causes on its
/// own (a crash, a restart after backoff) have none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Actor {
    /// A dashboard user, logged in with a password.
    Password {
        /// The user name.
        name: String,
        /// The client's IP address; absent when the session came over the local socket.
        address: Option<String>,
    },
    /// A local process on the daemon's Unix socket (`toructl` as root or in group `toru`).
    LocalSocket {
        /// The process's uid.
        uid: u32,
        /// The system user name of that uid, or `uid:<n>` when it has none.
        name: String,
    },
}

impl Actor {
    /// The name `toructl events --actor` and the dashboard's filter match: the dashboard user
    /// name, or the system user name of a local caller.
    pub fn name(&self) -> &str {
        match self {
            Actor::Password { name, .. } | Actor::LocalSocket { name, .. } => name,
        }
    }

    /// Whether `wanted` names this actor: its name, or `uid N` / `uid:N` for a local caller.
    pub fn matches(&self, wanted: &str) -> bool {
        if self.name() == wanted {
            return true;
        }
        match self {
            Actor::LocalSocket { uid, .. } => Actor::uid_named(wanted) == Some(*uid),
            Actor::Password { .. } => false,
        }
    }

    /// The uid `wanted` names as `uid N` or `uid:N`, the other way to name a local caller;
    /// the daemon's event query reads it the same way.
    pub fn uid_named(wanted: &str) -> Option<u32> {
        wanted
            .strip_prefix("uid ")
            .or_else(|| wanted.strip_prefix("uid:"))
            .and_then(|n| n.trim().parse().ok())
    }
}

impl fmt::Display for Actor {
    /// `alice from 192.0.2.7`, `alice`, or `uid 1000 (bob) via the local socket`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Password {
                name,
                address: Some(address),
            } => write!(f, "{name} from {address}"),
            Actor::Password {
                name,
                address: None,
            } => f.write_str(name),
            Actor::LocalSocket { uid, name } => {
                write!(f, "uid {uid} ({name}) via the local socket")
            }
        }
    }
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Event {
    /// Increases with insertion order.
    pub id: i64,
    /// The plugin the event is about; `null` for an event about no plugin (a user change, a
    /// rescan).
    pub plugin_id: Option<String>,
    /// The dashboard user the event is about (`user_*` and `password_changed` events).
    pub user: Option<String>,
    /// When it was recorded, in ms since the Unix epoch.
    pub at_unix_ms: i64,
    /// What happened.
    pub kind: EventKind,
    /// Human-readable details (exit status, error message, …); may be empty.
    pub details: String,
    /// Who caused it through the API; `null` for what the daemon did on its own.
    pub actor: Option<Actor>,
}

/// The query of `GET /api/events`. Filters combine: every one given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// How many events, newest first: 1–1000, default 100.
    pub limit: Option<usize>,
    /// Only this plugin's events.
    pub plugin: Option<String>,
    /// Only events of this kind.
    pub kind: Option<EventKind>,
    /// Only changes made by this actor: a dashboard user name, a local caller's system user
    /// name, or `uid N`.
    pub actor: Option<String>,
}

/// The query of `GET /api/events/follow`: the filters of [`EventsQuery`], and where to start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FollowEventsQuery {
    /// Only this plugin's events.
    pub plugin: Option<String>,
    /// Only events of this kind.
    pub kind: Option<EventKind>,
    /// Only changes made by this actor, as for `GET /api/events`.
    pub actor: Option<String>,
    /// Start after the event with this id: every later event that matches is sent first, in
    /// order, then new ones as they are recorded. Without it (and without a `Last-Event-ID`
    /// header, which a reconnecting `EventSource` sends and which this overrides), only events
    /// recorded from now on are sent.
    pub after: Option<i64>,
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

    #[test]
    fn actors_read_as_the_audit_trail_shows_them_and_match_by_name_or_uid() {
        let local = Actor::LocalSocket {
            uid: 1000,
            name: "bob".into(),
        };
        assert_eq!(local.to_string(), "uid 1000 (bob) via the local socket");
        for wanted in ["bob", "uid 1000", "uid:1000"] {
            assert!(local.matches(wanted), "{wanted}");
        }
        assert!(!local.matches("uid 1001"));
        let user = Actor::Password {
            name: "alice".into(),
            address: Some("192.0.2.7".into()),
        };
        assert_eq!(user.to_string(), "alice from 192.0.2.7");
        assert!(user.matches("alice") && !user.matches("uid 1000"));
        assert_eq!(
            serde_json::to_value(&local).unwrap(),
            serde_json::json!({"via": "local_socket", "uid": 1000, "name": "bob"})
        );
    }
}
