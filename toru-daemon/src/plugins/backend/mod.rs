//! How plugin processes are started and stopped: one trait, two implementations.
//!
//! A backend only runs processes and reports when they end. Everything that decides *whether*
//! to run them — backoff, give-up, health — lives in the supervisor, so both backends behave the
//! same way for the same plugin. Only [`systemd`] talks D-Bus; only [`embedded`] spawns children
//! (and [`metadata::run_as_child`], its way of running `--metadata`).
//!
//! A backend also runs each binary's `--metadata` for discovery ([`SupervisorBackend::run_metadata`]),
//! since where that may run depends on the backend: in a sandboxed unit of its own under systemd,
//! as a child otherwise.

pub mod embedded;
pub mod metadata;
pub mod proc_usage;
pub mod systemd;

pub use metadata::{MetadataError, MetadataRun};

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::oneshot;
use toru_plugin_api::PluginId;

/// Which backend runs the plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Transient systemd units over D-Bus.
    Systemd,
    /// Child processes of the daemon.
    Embedded,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Systemd => "systemd",
            BackendKind::Embedded => "embedded",
        })
    }
}

/// Everything needed to start one plugin. Built by the supervisor from discovered metadata; the
/// [`PluginId`] type guarantees the id is safe in a unit name or a path.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The plugin's id.
    pub plugin_id: PluginId,
    /// Absolute path of the plugin executable.
    pub binary: PathBuf,
    /// Where the plugin must listen; from [`SupervisorBackend::socket_path`].
    pub socket: PathBuf,
    /// Resource limits applied by the backend where it can.
    pub limits: Limits,
    /// What the plugin declared in its metadata beyond the default sandbox (validated). The
    /// systemd backend relaxes exactly these; the embedded backend has no sandbox to relax.
    pub permissions: toru_plugin_api::Permissions,
}

/// A plugin's resource limits: the configured defaults with its overrides applied
/// (`toru_api::LimitValues::overridden_by`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory ceiling in bytes (systemd `MemoryMax=`; `RLIMIT_AS` under the embedded backend).
    pub memory_max: Option<u64>,
    /// CPU ceiling in percent of one CPU (systemd `CPUQuota=`; none under the embedded
    /// backend).
    pub cpu_quota_percent: Option<u32>,
    /// Maximum number of tasks (systemd `TasksMax=`; `RLIMIT_NPROC` under the embedded
    /// backend).
    pub tasks_max: Option<u64>,
}

impl From<toru_api::LimitValues> for Limits {
    fn from(values: toru_api::LimitValues) -> Self {
        Limits {
            memory_max: values.memory_max_bytes,
            cpu_quota_percent: values.cpu_quota_percent,
            tasks_max: values.tasks_max,
        }
    }
}

impl From<Limits> for toru_api::LimitValues {
    fn from(limits: Limits) -> Self {
        toru_api::LimitValues {
            memory_max_bytes: limits.memory_max,
            cpu_quota_percent: limits.cpu_quota_percent,
            tasks_max: limits.tasks_max,
        }
    }
}

/// One reading of a running plugin's resource use, as the backend measured it; a figure it
/// cannot read is `None`. CPU is cumulative, so the sampler turns two readings into a percent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawUsage {
    /// Memory in bytes (cgroup `MemoryCurrent`, or the process group's resident set).
    pub memory_bytes: Option<u64>,
    /// CPU time used so far, user and system, in nanoseconds.
    pub cpu_nanos: Option<u64>,
    /// Tasks (threads).
    pub tasks: Option<u64>,
}

/// How a plugin process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitInfo {
    /// It exited with this status code.
    Exited(i32),
    /// A signal killed it.
    Killed(i32),
    /// The kernel's OOM killer ended it, at its memory limit when one was set (systemd's
    /// `Result=oom-kill`).
    OutOfMemory {
        /// The memory limit in bytes it ran under, if any.
        limit: Option<u64>,
    },
    /// The backend could not tell (e.g. the unit vanished); the text says what is known.
    Unknown(String),
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitInfo::Exited(code) => write!(f, "exited with status {code}"),
            ExitInfo::Killed(signal) => write!(f, "killed by signal {signal}"),
            ExitInfo::OutOfMemory { limit: Some(bytes) } => write!(
                f,
                "exceeded its {} memory limit",
                toru_api::limits::format_bytes(*bytes)
            ),
            ExitInfo::OutOfMemory { limit: None } => {
                f.write_str("killed by the kernel's out-of-memory killer")
            }
            ExitInfo::Unknown(what) => write!(f, "ended ({what})"),
        }
    }
}

/// A plugin process the backend started or adopted.
#[derive(Debug)]
pub struct RunningPlugin {
    /// Its main PID, when known.
    pub pid: Option<u32>,
    /// The systemd unit name, under the systemd backend.
    pub unit: Option<String>,
    /// Resolves once when the process ends, for whatever reason (crash, stop, kill). Dropping
    /// the sender without a value means the backend lost track of it, which the supervisor
    /// treats as an unknown exit.
    pub exited: oneshot::Receiver<ExitInfo>,
    /// Restarts the backend made by itself that the daemon did not see: under systemd ≥ 254,
    /// those of an adopted unit that crashed while the daemon was away (its `NRestarts`).
    /// Counted into the plugin's restarts. 0 otherwise.
    pub unseen_restarts: u32,
}

/// Why a backend operation failed, below [`BackendError`]: each backend's own error enum
/// ([`systemd::SystemdError`], [`embedded::EmbeddedError`]), boxed so that this module, shared by
/// both, needs neither zbus nor process types. Tests and logs reach it through `source()`.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors from a backend: which operation, for which plugin; the cause is the `source`.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend itself is not usable (no system bus, systemd not answering).
    #[error("the {backend} backend is unavailable")]
    Unavailable {
        /// Which backend.
        backend: BackendKind,
        /// Why.
        #[source]
        source: Cause,
    },
    /// Starting the plugin failed.
    #[error("cannot start plugin {plugin_id}")]
    Start {
        /// The plugin.
        plugin_id: PluginId,
        /// Why.
        #[source]
        source: Cause,
    },
    /// Stopping the plugin failed.
    #[error("cannot stop plugin {plugin_id}")]
    Stop {
        /// The plugin.
        plugin_id: PluginId,
        /// Why.
        #[source]
        source: Cause,
    },
    /// Inspecting one plugin's process (to adopt it) failed.
    #[error("cannot inspect plugin {plugin_id}")]
    Inspect {
        /// The plugin.
        plugin_id: PluginId,
        /// Why.
        #[source]
        source: Cause,
    },
    /// Listing the running plugins failed.
    #[error("cannot list the running plugins")]
    List {
        /// Why.
        #[source]
        source: Cause,
    },
}

impl BackendError {
    /// A [`BackendError::Start`] of `plugin_id` because of `cause`.
    pub fn start(plugin_id: &PluginId, cause: impl Into<Cause>) -> Self {
        BackendError::Start {
            plugin_id: plugin_id.clone(),
            source: cause.into(),
        }
    }

    /// A [`BackendError::Stop`] of `plugin_id` because of `cause`.
    pub fn stop(plugin_id: &PluginId, cause: impl Into<Cause>) -> Self {
        BackendError::Stop {
            plugin_id: plugin_id.clone(),
            source: cause.into(),
        }
    }

    /// A [`BackendError::Inspect`] of `plugin_id` because of `cause`.
    pub fn inspect(plugin_id: &PluginId, cause: impl Into<Cause>) -> Self {
        BackendError::Inspect {
            plugin_id: plugin_id.clone(),
            source: cause.into(),
        }
    }
}

/// Starts and stops plugin processes and reports their end.
#[async_trait::async_trait]
pub trait SupervisorBackend: Send + Sync + 'static {
    /// Which backend this is, for status output and logs.
    fn kind(&self) -> BackendKind;

    /// Where the plugin with this id listens. Stable for a given id, so the daemon can reconnect
    /// to an adopted plugin.
    fn socket_path(&self, plugin_id: &PluginId) -> PathBuf;

    /// Starts the plugin. Returns once the process runs (systemd: the start job finished), not
    /// once it listens; the supervisor connects with retries.
    async fn start(&self, spec: &LaunchSpec) -> Result<RunningPlugin, BackendError>;

    /// Takes over a plugin process that already runs (it outlived a previous daemon), or `None`
    /// when there is none. Adopting must not restart it.
    async fn adopt(&self, plugin_id: &PluginId) -> Result<Option<RunningPlugin>, BackendError>;

    /// Stops the plugin: SIGTERM, then SIGKILL after `grace`. Returns once it is gone. Stopping a
    /// plugin that does not run is not an error.
    async fn stop(&self, plugin_id: &PluginId, grace: Duration) -> Result<(), BackendError>;

    /// When the backend restarts a plugin that just failed by itself (systemd ≥ 254 with
    /// `Restart=on-failure`), the delay before it does; `None` when the supervisor must start it
    /// again. The supervisor then waits that delay and calls [`SupervisorBackend::start`], which
    /// follows that restart instead of starting another process.
    async fn scheduled_restart(&self, _plugin_id: &PluginId) -> Option<Duration> {
        None
    }

    /// What the plugin's running process uses now, or `None` when nothing of it runs. `pid` is
    /// the main process the supervisor knows of (the embedded backend reads its process group).
    /// Cheap enough to call every few seconds for every plugin.
    async fn usage(
        &self,
        _plugin_id: &PluginId,
        _pid: Option<u32>,
    ) -> Result<Option<RawUsage>, BackendError> {
        Ok(None)
    }

    /// The ids of every plugin process this backend currently runs, including ones left by a
    /// previous daemon, so the daemon can stop those no longer enabled.
    async fn list_running(&self) -> Result<Vec<PluginId>, BackendError>;

    /// Runs `binary --metadata` within the run's bounds and returns what it printed on stdout,
    /// unparsed. The process is gone when this returns, also when a bound was hit, and when the
    /// future is dropped it is stopped.
    async fn run_metadata(&self, run: &MetadataRun<'_>) -> Result<Vec<u8>, MetadataError>;
}

/// The systemd unit name for a plugin: `toru-plugin-<id>.service`.
pub fn unit_name(plugin_id: &PluginId) -> String {
    format!("toru-plugin-{plugin_id}.service")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_errors_name_the_backend_as_the_configuration_does() {
        let e = BackendError::Unavailable {
            backend: BackendKind::Systemd,
            source: "no system bus".into(),
        };
        assert_eq!(e.to_string(), "the systemd backend is unavailable");
        assert_eq!(BackendKind::Embedded.to_string(), "embedded");
    }

    #[test]
    fn an_oom_kill_names_the_limit_not_the_signal() {
        let oom = ExitInfo::OutOfMemory {
            limit: Some(256 << 20),
        };
        assert_eq!(oom.to_string(), "exceeded its 256 MiB memory limit");
    }
}
