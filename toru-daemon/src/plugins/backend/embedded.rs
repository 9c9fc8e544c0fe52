//! The embedded backend: plugins as child processes of the daemon, for machines and containers
//! without systemd and for a developer's first run.
//!
//! Each child gets its own process group (a Ctrl-C meant for the daemon does not hit it, and
//! helpers it forks can be found and stopped with it). Its stdout and stderr are pipes read by a
//! log relay process (`logs::relay`), not by the daemon, so a killed daemon leaves the plugin
//! writing to a live pipe; the relay writes a size-rotated JSON-lines file per plugin. A pid file
//! records the child so that a daemon restarted after `kill -9` can find and stop a child it
//! lost. Unlike systemd units, children are not adopted: a non-child cannot be waited for, so a
//! leftover is stopped and started again.
//!
//! The end of a run is learnt by waiting on the child, never from its output closing (a helper
//! may hold the output open forever). Once the main process has exited, the rest of its process
//! group is stopped (SIGTERM, then SIGKILL after [`GROUP_GRACE`]) before the exit is reported, so
//! a restart never meets the previous run's helpers.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::sync::{oneshot, watch};
use toru_plugin_api::PluginId;

use super::metadata::{MetadataError, MetadataRun, run_as_child};
use super::{
    BackendError, BackendKind, ExitInfo, LaunchSpec, RawUsage, RunningPlugin, SupervisorBackend,
    proc_usage,
};
use crate::logs::file_writer::Rotation;
use crate::logs::relay::{RELAY_FLAG, RelayArgs};
use crate::sync::lock;

/// Where the embedded backend keeps its files, and the relay it runs.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// Sockets and pid files go to `<runtime_dir>/plugins/`.
    pub runtime_dir: PathBuf,
    /// Log files go to `<log_dir>/plugins/`.
    pub log_dir: PathBuf,
    /// Log rotation.
    pub rotation: Rotation,
    /// The `toru-daemon` executable, started in its `--log-relay` mode as each plugin's log
    /// relay (`Config::log_relay`; tests name the built binary).
    pub log_relay: PathBuf,
}

/// Why the embedded backend could not start or stop a child: the `source` of its
/// [`BackendError`]s.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// A child of this plugin runs already.
    #[error("it is already running")]
    AlreadyRunning,
    /// The runtime directory for sockets and pid files could not be created.
    #[error("cannot create {}", .dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The filesystem error.
        #[source]
        source: std::io::Error,
    },
    /// The pipes for the child's stdout and stderr could not be created.
    #[error("cannot create output pipes")]
    Pipes(#[source] std::io::Error),
    /// The binary could not be executed.
    #[error("cannot execute {}", .binary.display())]
    Execute {
        /// The plugin binary.
        binary: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The child was gone before its pid could be read.
    #[error("exited before it could be tracked")]
    ExitedBeforeTracked,
    /// The log relay could not be started; the child was stopped again.
    #[error("cannot start its log relay {}", .relay.display())]
    Relay {
        /// The relay executable.
        relay: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The child's process group was still there after SIGKILL.
    #[error("process {pid} was not reaped after SIGKILL")]
    NotReaped {
        /// The child's pid.
        pid: u32,
    },
}

/// Runs plugins as child processes.
pub struct EmbeddedBackend {
    config: EmbeddedConfig,
    /// Shared with each child's reaper task, which removes the child once it has ended.
    children: Arc<Mutex<HashMap<PluginId, Child>>>,
}

/// What the backend keeps about a running child.
struct Child {
    pid: u32,
    /// Becomes `true` once the child has been reaped and its process group is gone.
    done: watch::Receiver<bool>,
}

/// How long the rest of a plugin's process group (helpers it forked) has after SIGTERM, once the
/// main process has exited or been stopped, before SIGKILL.
pub const GROUP_GRACE: Duration = Duration::from_secs(2);

/// How long an exit report waits for the log relay to write the last lines (often the reason
/// for a crash). A relay still held open by a helper that left the process group is reaped
/// later.
pub const RELAY_DRAIN: Duration = Duration::from_secs(2);

/// How long `stop` waits for the reaper after SIGKILL: the group's grace, the relay's drain, and
/// a margin.
const REAP_AFTER_KILL: Duration = Duration::from_secs(5);

/// How often a process group is checked for live members while it is being stopped. A group has
/// no descriptor to wait on, and its members are not our children.
const GROUP_POLL: Duration = Duration::from_millis(20);

impl EmbeddedBackend {
    /// A backend using the given directories (created as needed).
    pub fn new(config: EmbeddedConfig) -> Self {
        EmbeddedBackend {
            config,
            children: Arc::default(),
        }
    }

    fn plugin_dir(&self) -> PathBuf {
        self.config.runtime_dir.join("plugins")
    }

    fn pid_file(&self, plugin_id: &PluginId) -> PathBuf {
        self.plugin_dir().join(format!("{plugin_id}.pid"))
    }

    fn children(&self) -> std::sync::MutexGuard<'_, HashMap<PluginId, Child>> {
        lock(&self.children)
    }

    /// The pid recorded for a plugin by this or a previous daemon, if that process still runs
    /// the plugin (its command line names the plugin's socket, so a recycled pid is not taken
    /// for it).
    fn leftover_pid(&self, plugin_id: &PluginId) -> Option<u32> {
        let text = std::fs::read_to_string(self.pid_file(plugin_id)).ok()?;
        let pid: u32 = text.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let socket = self.socket_path(plugin_id);
        let socket = socket.as_os_str().as_encoded_bytes();
        cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == socket)
            .then_some(pid)
    }

    /// Stops a process that is not our child, and its process group (it leads one, as every
    /// child of this backend does): SIGTERM, wait, SIGKILL. Its log relay ends by itself once
    /// the group has gone.
    async fn stop_leftover(&self, plugin_id: &PluginId, pid: u32, grace: Duration) {
        tracing::info!(
            plugin = plugin_id.as_str(),
            pid,
            "stopping a plugin process left by a previous daemon"
        );
        let group = Pid::from_raw(-(pid as i32));
        let _ = kill(group, Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline && self.leftover_pid(plugin_id).is_some() {
            tokio::time::sleep(GROUP_POLL).await;
        }
        if self.leftover_pid(plugin_id).is_some() {
            let _ = kill(group, Signal::SIGKILL);
        }
        end_group(pid).await;
        let _ = std::fs::remove_file(self.pid_file(plugin_id));
    }

    /// Starts `toru-daemon --log-relay` on the read ends of a plugin's output pipes, in a process
    /// group of its own so that stopping the plugin's group does not lose its last lines.
    fn spawn_relay(
        &self,
        plugin_id: &PluginId,
        pid: u32,
        stdout: std::io::PipeReader,
        stderr: std::io::PipeReader,
    ) -> std::io::Result<tokio::process::Child> {
        let args = RelayArgs {
            dir: plugin_log_dir(&self.config.log_dir),
            plugin: plugin_id.clone(),
            pid,
            max_bytes: self.config.rotation.max_bytes,
            keep: self.config.rotation.keep,
        };
        Command::new(&self.config.log_relay)
            .arg(RELAY_FLAG)
            .args(args.to_args())
            .stdin(stdout)
            .stdout(stderr)
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
    }
}

#[async_trait::async_trait]
impl SupervisorBackend for EmbeddedBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Embedded
    }

    fn socket_path(&self, plugin_id: &PluginId) -> PathBuf {
        self.plugin_dir().join(format!("{plugin_id}.sock"))
    }

    async fn start(&self, spec: &LaunchSpec) -> Result<RunningPlugin, BackendError> {
        let id = &spec.plugin_id;
        let fail = |cause: EmbeddedError| BackendError::start(id, cause);
        if self.children().contains_key(id) {
            return Err(fail(EmbeddedError::AlreadyRunning));
        }
        std::fs::create_dir_all(self.plugin_dir()).map_err(|source| {
            fail(EmbeddedError::CreateDir {
                dir: self.plugin_dir(),
                source,
            })
        })?;
        let pipes = std::io::pipe().and_then(|out| Ok((out, std::io::pipe()?)));
        let ((out_read, out_write), (err_read, err_write)) =
            pipes.map_err(|e| fail(EmbeddedError::Pipes(e)))?;
        // The write ends go to the child only: the `Command` holding the daemon's copies is
        // dropped at the end of this statement.
        let mut child = limited_command(&spec.binary, &spec.limits)
            .arg("--socket")
            .arg(&spec.socket)
            .env("TORU_PLUGIN_ID", id.as_str())
            .env("TORU_PLUGIN_SOCKET", &spec.socket)
            .stdin(Stdio::null())
            .stdout(out_write)
            .stderr(err_write)
            .process_group(0)
            .spawn()
            .map_err(|source| {
                fail(EmbeddedError::Execute {
                    binary: spec.binary.clone(),
                    source,
                })
            })?;
        let Some(pid) = child.id() else {
            let _ = child.wait().await;
            return Err(fail(EmbeddedError::ExitedBeforeTracked));
        };
        // First, so that a daemon killed from here on leaves a child the next one can find.
        if let Err(e) = std::fs::write(self.pid_file(id), format!("{pid}\n")) {
            tracing::warn!(plugin = id.as_str(), error = %e, "cannot write pid file");
        }
        let relay = match self.spawn_relay(id, pid, out_read, err_read) {
            Ok(relay) => relay,
            Err(source) => {
                let _ = kill(Pid::from_raw(-(pid as i32)), Signal::SIGKILL);
                let _ = child.wait().await;
                end_group(pid).await;
                let _ = std::fs::remove_file(self.pid_file(id));
                return Err(fail(EmbeddedError::Relay {
                    relay: self.config.log_relay.clone(),
                    source,
                }));
            }
        };

        let (exited_tx, exited_rx) = oneshot::channel();
        let (done_tx, done_rx) = watch::channel(false);
        self.children()
            .insert(id.clone(), Child { pid, done: done_rx });
        let pid_file = self.pid_file(id);
        let plugin_id = id.clone();
        let children = self.children.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            // Helpers that outlived the main process go now, so the next start finds none.
            end_group(pid).await;
            drain_relay(&plugin_id, relay).await;
            let info = match status {
                Ok(status) => match (status.code(), status.signal()) {
                    (Some(code), _) => ExitInfo::Exited(code),
                    (None, Some(signal)) => ExitInfo::Killed(signal),
                    _ => ExitInfo::Unknown(format!("{status}")),
                },
                Err(e) => ExitInfo::Unknown(format!("wait failed: {e}")),
            };
            let _ = std::fs::remove_file(&pid_file);
            {
                let mut children = lock(&children);
                if children.get(&plugin_id).is_some_and(|c| c.pid == pid) {
                    children.remove(&plugin_id);
                }
            }
            tracing::debug!(plugin = plugin_id.as_str(), %info, "plugin process ended");
            let _ = exited_tx.send(info);
            let _ = done_tx.send(true);
        });
        Ok(RunningPlugin {
            pid: Some(pid),
            unit: None,
            exited: exited_rx,
            unseen_restarts: 0,
        })
    }

    async fn usage(
        &self,
        plugin_id: &PluginId,
        _pid: Option<u32>,
    ) -> Result<Option<RawUsage>, BackendError> {
        // The child this backend tracks, not a pid from elsewhere: its group is the plugin.
        let Some(pid) = self.children().get(plugin_id).map(|c| c.pid) else {
            return Ok(None);
        };
        tokio::task::spawn_blocking(move || proc_usage::group_usage(pid))
            .await
            .map_err(|e| BackendError::inspect(plugin_id, e))?
            .map_err(|e| BackendError::inspect(plugin_id, e))
    }

    async fn adopt(&self, plugin_id: &PluginId) -> Result<Option<RunningPlugin>, BackendError> {
        // A child of a previous daemon cannot be waited for, so it is stopped, not adopted.
        if let Some(pid) = self.leftover_pid(plugin_id)
            && !self.children().contains_key(plugin_id)
        {
            self.stop_leftover(plugin_id, pid, Duration::from_secs(5))
                .await;
        }
        Ok(None)
    }

    async fn stop(&self, plugin_id: &PluginId, grace: Duration) -> Result<(), BackendError> {
        let child = self
            .children()
            .get(plugin_id)
            .map(|c| (c.pid, c.done.clone()));
        let Some((pid, mut done)) = child else {
            if let Some(pid) = self.leftover_pid(plugin_id) {
                self.stop_leftover(plugin_id, pid, grace).await;
            }
            return Ok(());
        };
        // The whole process group, so helpers the plugin spawned go too. The reaper reports
        // `done` only once the main process is reaped and the group is empty.
        let group = Pid::from_raw(-(pid as i32));
        let _ = kill(group, Signal::SIGTERM);
        let mut reaped = async move || {
            // The guard `wait_for` returns must not live across the next await.
            let _ = done.wait_for(|d| *d).await.map(|_| ());
        };
        if tokio::time::timeout(grace, reaped()).await.is_err() {
            tracing::warn!(
                plugin = plugin_id.as_str(),
                pid,
                "plugin ignored SIGTERM; sending SIGKILL"
            );
            let _ = kill(group, Signal::SIGKILL);
            if tokio::time::timeout(REAP_AFTER_KILL, reaped())
                .await
                .is_err()
            {
                return Err(BackendError::stop(
                    plugin_id,
                    EmbeddedError::NotReaped { pid },
                ));
            }
        }
        Ok(())
    }

    async fn list_running(&self) -> Result<Vec<PluginId>, BackendError> {
        let mut ids: Vec<PluginId> = self.children().keys().cloned().collect();
        // Leftovers of a previous daemon, found by their pid files.
        if let Ok(dir) = std::fs::read_dir(self.plugin_dir()) {
            for entry in dir.flatten() {
                let name = entry.file_name();
                // A file name that is not a valid id is no pid file of ours: skipped.
                let Some(id) = name
                    .to_str()
                    .and_then(|n| n.strip_suffix(".pid"))
                    .and_then(|n| PluginId::new(n).ok())
                else {
                    continue;
                };
                if !ids.contains(&id) && self.leftover_pid(&id).is_some() {
                    ids.push(id);
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// As a child of the daemon: there is no sandbox to run it in.
    async fn run_metadata(&self, run: &MetadataRun<'_>) -> Result<Vec<u8>, MetadataError> {
        run_as_child(run).await
    }
}

/// Whether any process of this process group is still alive (zombies do not count: a helper
/// orphaned by the plugin's exit may wait to be reaped by init, and is harmless meanwhile).
fn group_alive(pgid: u32) -> bool {
    // Cheap first: no process at all has this group.
    if kill(Pid::from_raw(-(pgid as i32)), None).is_err() {
        return false;
    }
    let Ok(proc) = std::fs::read_dir("/proc") else {
        return true;
    };
    proc.flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .any(|entry| {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                return false;
            };
            // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses.
            let mut fields = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_whitespace();
            let state = fields.next();
            let pgrp = fields.nth(1).and_then(|g| g.parse::<u32>().ok());
            pgrp == Some(pgid) && state != Some("Z")
        })
}

/// Waits until no live process is left in the group, at most `within`; returns whether it
/// emptied.
async fn group_gone_within(pgid: u32, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if !group_alive(pgid) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(GROUP_POLL).await;
    }
}

/// Stops whatever is left of a plugin's process group after its main process ended: SIGTERM,
/// [`GROUP_GRACE`], SIGKILL.
async fn end_group(pgid: u32) {
    if !group_alive(pgid) {
        return;
    }
    let group = Pid::from_raw(-(pgid as i32));
    tracing::debug!(
        pgid,
        "stopping the processes left in a plugin's process group"
    );
    let _ = kill(group, Signal::SIGTERM);
    if !group_gone_within(pgid, GROUP_GRACE).await {
        tracing::warn!(pgid, "plugin helpers ignored SIGTERM; sending SIGKILL");
        let _ = kill(group, Signal::SIGKILL);
        group_gone_within(pgid, GROUP_GRACE).await;
    }
}

/// Waits up to [`RELAY_DRAIN`] for a plugin's log relay to write the last lines and exit; a relay
/// still held open (by a helper that left the process group) is reaped in the background.
async fn drain_relay(plugin_id: &PluginId, mut relay: tokio::process::Child) {
    if tokio::time::timeout(RELAY_DRAIN, relay.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            plugin = plugin_id.as_str(),
            "a process outside the plugin's group still holds its output open"
        );
        tokio::spawn(async move {
            let _ = relay.wait().await;
        });
    }
}

/// The program that applies the embedded backend's limits: util-linux's `prlimit(1)` sets the
/// limits on itself and executes the plugin, so they hold from its first instruction on, with
/// no `unsafe` `pre_exec` in the daemon (the workspace denies `unsafe_code`).
pub const PRLIMIT: &str = "prlimit";

/// The command that runs `binary` under `limits`: the binary itself when there are none, else
/// `prlimit --as=BYTES --nproc=N -- binary`, the closest the embedded backend gets to systemd's
/// limits and weaker: `RLIMIT_AS` counts address space, not memory used (a runtime that
/// reserves much more than it touches fails early), `RLIMIT_NPROC` counts every process of the
/// daemon's user, not the plugin's, and is not enforced for root; there is no CPU quota.
fn limited_command(binary: &Path, limits: &super::Limits) -> Command {
    let mut args = Vec::new();
    if let Some(bytes) = limits.memory_max {
        args.push(format!("--as={bytes}"));
    }
    if let Some(tasks) = limits.tasks_max {
        args.push(format!("--nproc={tasks}"));
    }
    if args.is_empty() {
        return Command::new(binary);
    }
    let mut command = Command::new(PRLIMIT);
    command.args(args).arg("--").arg(binary);
    command
}

/// The directory the embedded backend's log files for plugins live in.
pub fn plugin_log_dir(log_dir: &Path) -> PathBuf {
    log_dir.join("plugins")
}
