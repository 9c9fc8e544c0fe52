//! Prometheus metrics: what `GET /metrics` answers (docs/operations.md, "Metrics").
//!
//! - [`plugin`]: one plugin's counters ([`PluginMetrics`]), kept on its slot and updated on the
//!   hot path with relaxed atomic adds;
//! - [`http`]: the API server's requests and open connections;
//! - [`process`]: the daemon process's CPU, memory and file descriptors, read at scrape time;
//! - [`token`]: the scrapers' bearer token;
//! - [`exposition`]: one scrape, everything above written as families;
//! - [`text`]: the text exposition format itself.
//!
//! Plain atomics and a small writer rather than a metrics crate: the families are few and
//! fixed, a plugin's series must disappear with the plugin (they are written from the list of
//! discovered plugins at each scrape, so nothing needs unregistering), and a forwarded request
//! must cost a few atomic adds, not a lock per histogram observation or a labelled-family map
//! lookup.

pub mod exposition;
pub mod http;
pub mod plugin;
pub mod process;
pub mod text;
pub mod token;

use std::time::SystemTime;

pub use exposition::{PluginSample, ResourceFigures, render};
pub use http::{HttpMetrics, ListenerKind};
pub use plugin::{ForwardMeter, KvOpKind, PluginMetrics, StatusClass};
pub use token::MetricsToken;

/// The daemon's own figures, one per daemon, shared through `ApiState`.
#[derive(Debug)]
pub struct DaemonMetrics {
    /// When the daemon started.
    pub started: SystemTime,
    /// The API server's counters.
    pub http: std::sync::Arc<HttpMetrics>,
}

impl DaemonMetrics {
    /// Figures of a daemon starting now.
    pub fn new() -> Self {
        DaemonMetrics {
            started: SystemTime::now(),
            http: Default::default(),
        }
    }
}

impl Default for DaemonMetrics {
    fn default() -> Self {
        DaemonMetrics::new()
    }
}
