//! The systemd backend: every plugin runs as a transient unit `toru-plugin-<id>.service`.
//!
//! systemd does the cgroup, the sandbox and the journal; this module only talks to
//! `org.freedesktop.systemd1` on the system bus (it is the only module that imports zbus). One
//! file per concern:
//!
//! - `dbus.rs`: hand-written [`zbus::proxy`] traits for the few calls and properties used, and
//!   the connection they share;
//! - `unit_state.rs`: `ActiveState`, job results and how a main process ended, as enums;
//! - `version.rs`: which systemd answers, since restarts by systemd need ≥ 254;
//! - `socket.rs`: where a plugin's socket lives, for the daemon and inside the unit;
//! - `sandbox.rs`: [`sandbox_properties`], the sandbox every unit the daemon creates runs in,
//!   relaxed only by declared permissions, and [`limit_properties`];
//! - `properties.rs`: [`unit_properties`], the one place that decides what a plugin unit looks
//!   like;
//! - `metadata.rs`: `--metadata` in a transient unit `toru-metadata-<random>.service` of its own,
//!   its stdout read through a pipe; [`metadata_unit_properties`] decides what that unit looks
//!   like;
//! - `backend.rs`: [`SystemdBackend`], the [`SupervisorBackend`](super::SupervisorBackend) over
//!   those, the caller of `StartTransientUnit` for plugin units;
//! - `watcher.rs`: a task per running unit that turns the unit's `PropertiesChanged` signals
//!   into the one [`ExitInfo`](super::ExitInfo) the supervisor waits for;
//! - `error.rs`: [`SystemdError`], the typed cause under every `BackendError` of this backend.
//!
//! Nothing here polls: job completion comes from `JobRemoved`, unit state from
//! `org.freedesktop.DBus.Properties.PropertiesChanged` on the unit's object path. Unit names and
//! properties are only ever made from a validated plugin id and [`unit_properties`], so a
//! malformed id or metadata can never make this module start anything but a sandboxed plugin.

mod backend;
mod dbus;
mod error;
mod metadata;
mod properties;
mod sandbox;
mod socket;
mod unit_state;
mod version;
mod watcher;

use std::path::PathBuf;

use toru_plugin_api::PluginId;

use crate::plugins::settings::RestartPolicy;

pub use backend::SystemdBackend;
pub use error::{FailureDetails, SystemdError};
pub use metadata::{METADATA_UNIT_PREFIX, metadata_unit_properties};
pub use properties::{PLUGIN_SLICE, UnitRestarts, unit_properties};
pub use sandbox::{limit_properties, sandbox_properties};
pub use socket::{prepare_socket_dir, socket_path, unit_socket_path};
pub use unit_state::JobResult;
pub use version::SystemdVersion;

/// Unit names are `toru-plugin-<id>.service`; these split a name back into the id.
const UNIT_PREFIX: &str = "toru-plugin-";
const UNIT_SUFFIX: &str = ".service";

/// Where the daemon keeps one socket directory per plugin, unless configured otherwise.
pub const DEFAULT_SOCKET_DIR: &str = "/run/toru/plugin-sockets";

/// What the systemd backend needs beyond each [`LaunchSpec`](super::LaunchSpec). Small on
/// purpose: per-plugin limits travel in the spec and the sandbox is fixed in
/// [`unit_properties`].
#[derive(Debug, Clone)]
pub struct SystemdConfig {
    /// Extra `KEY=VALUE` environment entries for every plugin (e.g. `RUST_LOG`), after the
    /// variables the protocol defines.
    pub extra_env: Vec<String>,
    /// The daemon's directory of plugin socket directories (see [`socket_path`]): mode 0700,
    /// owned by the daemon, so only the daemon and, through its bind mount, each plugin reach
    /// a plugin's socket.
    pub socket_dir: PathBuf,
    /// The restart policy to hand to systemd, so that systemd restarts a crashed plugin itself
    /// (also while the daemon is away) with the same delays and give-up. Used only where
    /// systemd can grow the delay (≥ 254): [`SystemdBackend::connect`] clears it on older ones,
    /// and then the daemon's supervisor restarts plugins. `None`: never.
    pub restart_policy: Option<RestartPolicy>,
}

impl Default for SystemdConfig {
    fn default() -> Self {
        Self {
            extra_env: Vec::new(),
            socket_dir: PathBuf::from(DEFAULT_SOCKET_DIR),
            restart_policy: None,
        }
    }
}

impl SystemdConfig {
    /// Where the daemon connects to the plugin `plugin_id`: `<socket_dir>/<id>/plugin.sock`.
    pub fn socket_path(&self, plugin_id: &PluginId) -> PathBuf {
        socket_path(&self.socket_dir, plugin_id)
    }
}
