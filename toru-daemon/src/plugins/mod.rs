//! Plugins: finding them, running them under a backend, and talking to them.
//!
//! - [`discovery`] asks each `*.binary` for its metadata, within limits;
//! - [`backend`] starts and stops processes (systemd units or children);
//! - [`supervisor`] keeps one enabled plugin running, with backoff and give-up;
//! - [`connection`] is the daemon's side of the protocol, and serves the plugin's KV requests;
//! - [`manager`] ties them together behind the operations the API offers;
//! - [`enabled`] persists which plugins are enabled; [`status`] is what is shown about them;
//! - [`license`] is what is shown about a plugin's licence, and the gate for `license_required`.

pub mod backend;
pub mod connection;
pub mod discovery;
pub mod enabled;
pub mod license;
pub mod manager;
pub mod status;
pub mod supervisor;

pub use manager::{ForwardError, PluginInfo, PluginManager, Settings};
pub use status::{PluginState, PluginStatus};
