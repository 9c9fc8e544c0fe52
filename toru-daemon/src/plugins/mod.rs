//! Plugins: finding them, running them under a backend, and talking to them.
//!
//! - [`discovery`] asks each `*.binary` for its metadata, within limits;
//! - [`backend`] starts and stops processes (systemd units or children);
//! - [`lifecycle`] is the state machine of one plugin, the only thing that changes its status;
//! - [`supervisor`] keeps one enabled plugin running, with backoff and give-up, reporting to
//!   the lifecycle; [`settings`] holds its tunables and their defaults;
//! - [`connection`] is the daemon's side of the protocol, and serves the plugin's KV requests;
//! - [`manager`] ties them together behind the operations the API offers, over each plugin's
//!   `slot` (shared with its supervisor); [`error`] is what those operations fail with;
//! - [`enabled`] persists which plugins are enabled; [`status`] is what is shown about them;
//! - [`license`] is what is shown about a plugin's licence, and the gate for `license_required`;
//! - [`trust`] is the signature policy, the trusted keys, and the verified copies `enforce` runs.
//! - [`install`] is the files of installs, upgrades and rollbacks (staging, the previous version).
//! - [`usage`] is each plugin's resource figures over the last hour, which the manager's sampler
//!   reads from the backend.

pub mod backend;
pub mod connection;
pub mod discovery;
pub mod enabled;
pub mod error;
pub mod install;
pub mod license;
pub mod lifecycle;
pub mod manager;
pub mod plugin_config;
pub mod settings;
mod slot;
pub mod status;
pub mod supervisor;
pub mod trust;
pub mod usage;

pub use error::{Error, ForwardError};
pub use manager::PluginManager;
pub use settings::Settings;
pub use status::{PluginInfo, PluginState, PluginStatus};
