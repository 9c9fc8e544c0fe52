//! `toru-daemon`: the Toru plugin host, as a library so that `main` stays thin and integration
//! tests start the real daemon on a temp directory.
//!
//! - [`config`]: flags, TOML file, defaults;
//! - [`store`]: the SQLite database (the only module that runs SQL);
//! - [`plugins`]: discovery, supervision over systemd or child processes, the plugin protocol;
//! - [`logs`]: the log entry format and the embedded backend's log files;
//! - [`metrics`]: the Prometheus metrics of `GET /metrics`;
//! - [`tls`]: the TLS listener's certificate, loaded or generated, and its fingerprint;
//! - [`daemon`]: [`Daemon`] and [`run`], which put them together;
//! - [`sync`]: the poison-ignoring mutex lock every module shares;
//! - [`error_chain`]: an error with all its causes on one line, for logs and status.

pub mod backup;
pub mod config;
pub mod daemon;
pub mod error_chain;
pub mod logs;
pub mod metrics;
pub mod plugins;
pub mod store;
pub mod sync;
pub mod tls;
pub mod webhooks;

pub use daemon::{Daemon, run};
pub mod api;
pub mod auth;
