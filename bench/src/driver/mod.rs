//! One module per scenario, plus the small shared pieces (`stats`, `http`).

pub mod attack_http;
pub mod attack_plugin;
pub mod enable;
pub mod faults;
pub mod floor;
pub mod http;
pub mod kv;
pub mod latency;
pub mod login;
pub mod report;
pub mod slowloris;
pub mod stats;
