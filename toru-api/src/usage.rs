//! What a running plugin costs: memory, CPU, tasks, restarts and uptime, now and over the last
//! hour (`GET /api/plugins/{id}/usage`; docs/operations.md, "Resource use and limits").

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// A running plugin's resource use, from its last sample. A figure the backend cannot read
/// (systemd without accounting for it, a process gone between two reads) is `null`, never a
/// made-up number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct ResourceUsage {
    /// Memory in bytes: the unit's cgroup (`MemoryCurrent`) under systemd, the sum of the
    /// resident set of every process in the plugin's process group under the embedded backend.
    pub memory_bytes: Option<u64>,
    /// CPU over the last sample interval, in percent of one CPU (200 is two CPUs busy); `null`
    /// until two samples of the same run exist.
    pub cpu_percent: Option<f64>,
    /// CPU time used by this run of the plugin, user and system, in seconds.
    pub cpu_seconds: Option<f64>,
    /// Tasks (threads) in the plugin's cgroup or process group.
    pub tasks: Option<u64>,
    /// Restarts after failures since it was last enabled (as in its status).
    pub restarts: u32,
    /// Seconds since the daemon started (or adopted) the running process.
    pub uptime_secs: u64,
}

/// One sample of the last hour, for a chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct UsageSample {
    /// When it was taken, Unix seconds.
    pub at: u64,
    /// Memory in bytes, as in [`ResourceUsage::memory_bytes`].
    pub memory_bytes: Option<u64>,
    /// CPU percent since the sample before, as in [`ResourceUsage::cpu_percent`].
    pub cpu_percent: Option<f64>,
    /// Tasks, as in [`ResourceUsage::tasks`].
    pub tasks: Option<u64>,
}

/// `GET /api/plugins/{id}/usage`: the figures now and the samples of the last hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct PluginUsage {
    /// The latest figures; `null` while the plugin does not run.
    pub current: Option<ResourceUsage>,
    /// The samples kept (at most an hour's), oldest first; runs of the plugin follow each other
    /// with gaps where it did not run.
    pub history: Vec<UsageSample>,
    /// Seconds between two samples.
    pub interval_secs: u64,
}
