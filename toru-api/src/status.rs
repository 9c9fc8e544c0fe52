//! The daemon's own status and liveness.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// Which backend runs the plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Transient systemd units over D-Bus.
    Systemd,
    /// Child processes of the daemon.
    Embedded,
}

/// How many plugins are in which condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct PluginCounts {
    /// Installed.
    pub total: usize,
    /// Enabled by an admin.
    pub enabled: usize,
    /// Running.
    pub running: usize,
    /// Given up on after too many failures.
    pub failed: usize,
}

/// `GET /api/status`: what `toructl status` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Status {
    /// The daemon's version.
    pub version: String,
    /// This installation's id, which licence keys are issued for.
    pub instance_id: String,
    /// Which backend runs the plugins.
    pub backend: Backend,
    /// Who is calling.
    pub user: String,
    /// Plugin counts.
    pub plugins: PluginCounts,
    /// The built-in TLS listener, when one is configured (`tls_listen`); absent otherwise, and
    /// from daemons that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub tls: Option<TlsListener>,
}

/// The built-in TLS listener, so an administrator can check the certificate a browser shows
/// on its first visit against the one the daemon serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct TlsListener {
    /// The address it listens on, e.g. `0.0.0.0:7443`.
    pub listen: String,
    /// The SHA-256 fingerprint of the certificate it serves, as browsers and
    /// `openssl x509 -noout -fingerprint -sha256` show it: colon-separated upper-case hex.
    pub sha256_fingerprint: String,
}

/// The only value of [`Health::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// The daemon answers.
    Ok,
}

/// `GET /api/health`: `{"status": "ok"}` while the daemon answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: HealthStatus,
}
