//! [`SystemdBackend`]: the [`SupervisorBackend`] over systemd's D-Bus API — start, adopt, stop
//! and list plugin units, each start or adoption followed by a [`Watcher`].

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::oneshot;
use toru_plugin_api::PluginId;
use zbus::{Connection, OwnedObjectPath};

use super::dbus::unit_phase_of;
use super::dbus::{
    self, JobRemovedStream, ManagerProxy, manager_proxy, service_proxy, system_bus,
    unit_object_path,
};
use super::error::{SystemdError, is_no_such_unit};
use super::properties::{UNIT_STOP_TIMEOUT, unit_properties};
use super::socket::prepare_socket_dir;
use super::unit_state::{ActiveState, ExecMain, JobResult, UnitPhase};
use super::version::SystemdVersion;
use super::watcher::{Watcher, figure};
use super::{SystemdConfig, UNIT_PREFIX, UNIT_SUFFIX};
use crate::plugins::backend::{
    BackendError, BackendKind, ExitInfo, LaunchSpec, MetadataError, MetadataRun, RawUsage,
    RunningPlugin, SupervisorBackend, unit_name,
};

/// How long a start job may take before `start` gives up. A `Type=exec` start job finishes
/// once `execve` succeeded, so this only bounds a wedged systemd.
const START_JOB_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stop` waits for the stop job after sending SIGKILL itself.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// Upper bound of [`SystemdBackend::probe`], so `--supervisor auto` decides quickly.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// `SIGKILL`, which systemd's `KillUnit` takes as a number (`<signal.h>`).
const SIGKILL: i32 = 9;

/// Runs plugins as transient systemd units over the system bus.
///
/// One D-Bus connection, subscribed to systemd's signals, serves every call and every watcher.
/// Units outlive the backend (and the daemon): a new backend finds them with
/// [`SupervisorBackend::list_running`] and [`SupervisorBackend::adopt`].
pub struct SystemdBackend {
    conn: Connection,
    manager: ManagerProxy<'static>,
    /// As given, but with `restart_policy` cleared when this systemd cannot apply it.
    config: SystemdConfig,
    version: Option<SystemdVersion>,
}

impl std::fmt::Debug for SystemdBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemdBackend")
            .field("config", &self.config)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl SystemdBackend {
    /// Connects to the system bus and subscribes to systemd's signals (systemd sends most of
    /// them only to subscribed clients).
    pub async fn connect(config: SystemdConfig) -> Result<Self, BackendError> {
        let unavailable = |cause: SystemdError| BackendError::Unavailable {
            backend: BackendKind::Systemd,
            source: cause.into(),
        };
        let conn = system_bus()
            .await
            .map_err(|e| unavailable(SystemdError::Bus(e)))?;
        let manager = manager_proxy(&conn).await.map_err(|e| {
            unavailable(SystemdError::call("connect to org.freedesktop.systemd1")(e))
        })?;
        manager
            .subscribe()
            .await
            .map_err(|e| unavailable(SystemdError::call("Subscribe")(e)))?;
        let version = manager
            .version()
            .await
            .map_err(|e| unavailable(SystemdError::call("Get Version")(e)))?;
        let version = SystemdVersion::parse(&version);
        let mut config = config;
        if !version.is_some_and(SystemdVersion::restarts_with_backoff) {
            config.restart_policy = None;
        }
        tracing::info!(
            systemd = ?version,
            restarts_by = if config.restart_policy.is_some() { "systemd" } else { "daemon" },
            "connected to systemd"
        );
        Ok(Self {
            conn,
            manager,
            config,
            version,
        })
    }

    /// The systemd version, when it could be read.
    pub fn version(&self) -> Option<SystemdVersion> {
        self.version
    }

    /// Whether systemd restarts crashed plugins itself (systemd ≥ 254 and a restart policy
    /// configured), rather than the daemon's supervisor.
    pub fn restarts_by_systemd(&self) -> bool {
        self.config.restart_policy.is_some()
    }

    /// The longest a restart systemd scheduled can take to bring the unit up: its longest delay
    /// and the start itself.
    fn restart_limit(&self) -> Duration {
        let longest = self
            .config
            .restart_policy
            .map_or(Duration::ZERO, |p| p.backoff.max);
        longest + START_JOB_TIMEOUT
    }

    /// The object path of `unit`, a stream of its changes and its phase read after the stream
    /// was made (so no change after the read is missed); `None` when it is not loaded. GetUnit
    /// does not load a unit (reading properties by path would), so "not loaded" stays so.
    async fn loaded_unit(
        &self,
        unit: &str,
    ) -> Result<Option<(String, zbus::fdo::PropertiesChangedStream, UnitPhase)>, SystemdError> {
        let path = match self.manager.get_unit(unit).await {
            Ok(path) => path.to_string(),
            Err(e) if is_no_such_unit(&e) => return Ok(None),
            Err(e) => return Err(SystemdError::call("GetUnit")(e)),
        };
        let changes = self
            .unit_changes(&path)
            .await
            .map_err(SystemdError::call("AddMatch PropertiesChanged"))?;
        let phase = dbus::unit_phase(&self.conn, &path)
            .await
            .map_err(SystemdError::call("Get ActiveState"))?;
        Ok(Some((path, changes, phase)))
    }

    /// The process of a restart systemd made or scheduled for `unit`, followed until it runs;
    /// `None` when systemd is not restarting it.
    async fn follow_existing(
        &self,
        plugin_id: &PluginId,
        unit: &str,
    ) -> Result<Option<RunningPlugin>, SystemdError> {
        match self.loaded_unit(unit).await? {
            Some((path, changes, phase))
                if phase.restart_scheduled || phase.active.is_running() =>
            {
                self.follow_restart(plugin_id, unit, path, changes, phase)
                    .await
            }
            _ => Ok(None),
        }
    }

    /// Follows the unit at `path` (whose state is `phase`) until systemd has started the
    /// process of the restart it scheduled, and returns it like `start` would (its watcher then
    /// reports how it ends, also when that is before it listens); `None` when nothing runs or
    /// is scheduled (the caller starts a unit itself).
    async fn follow_restart(
        &self,
        plugin_id: &PluginId,
        unit: &str,
        path: String,
        mut changes: zbus::fdo::PropertiesChangedStream,
        mut phase: UnitPhase,
    ) -> Result<Option<RunningPlugin>, SystemdError> {
        let limit = self.restart_limit();
        let follow = async {
            loop {
                match (&phase.active, phase.restart_scheduled) {
                    (
                        ActiveState::Active | ActiveState::Activating | ActiveState::Reloading,
                        false,
                    ) => return Ok(true),
                    (state, false) if state.has_ended() => return Ok(false),
                    // The restart is scheduled, or the old process is still being stopped.
                    _ => {}
                }
                phase = loop {
                    let signal = changes.next().await.ok_or(SystemdError::ConnectionClosed)?;
                    if let Some(phase) = unit_phase_of(&signal) {
                        break phase;
                    }
                };
            }
        };
        let running = tokio::time::timeout(limit, follow).await.map_err(|_| {
            SystemdError::RestartTimeout {
                unit: unit.to_owned(),
                limit,
            }
        })??;
        if !running {
            return Ok(None);
        }
        let pid = self
            .main_pid(&path)
            .await
            .map_err(SystemdError::call("Get MainPID"))?;
        let exited = self.spawn_watcher(plugin_id, changes, path, true);
        tracing::info!(
            plugin = plugin_id.as_str(),
            unit,
            ?pid,
            "following the unit systemd restarted"
        );
        Ok(Some(RunningPlugin {
            pid,
            unit: Some(unit.to_owned()),
            exited,
            unseen_restarts: 0,
        }))
    }

    /// How often systemd restarted the unit at `path` by itself; 0 when the daemon restarts
    /// plugins, or it cannot be read.
    async fn systemd_restarts(&self, path: &str) -> u32 {
        if !self.restarts_by_systemd() {
            return 0;
        }
        let read = async { service_proxy(&self.conn, path).await?.n_restarts().await };
        read.await.unwrap_or_else(|e| {
            tracing::debug!(path, "cannot read NRestarts: {e}");
            0
        })
    }

    /// Whether the system bus and systemd answer, within about two seconds. Used by
    /// `--supervisor auto` to choose this backend; never fails, never hangs.
    pub async fn probe() -> bool {
        let check = async {
            let conn = system_bus().await?;
            manager_proxy(&conn).await?.version().await
        };
        matches!(tokio::time::timeout(PROBE_TIMEOUT, check).await, Ok(Ok(_)))
    }

    /// The stream of `PropertiesChanged` signals of the unit at `path`. Creating it installs
    /// the match rule, so every change after this call is seen.
    async fn unit_changes(&self, path: &str) -> zbus::Result<zbus::fdo::PropertiesChangedStream> {
        dbus::unit_changes(&self.conn, path).await
    }

    /// `ResetFailedUnit`, treating "not loaded" as done.
    async fn reset_failed(&self, unit: &str) -> zbus::Result<()> {
        match self.manager.reset_failed_unit(unit).await {
            Err(e) if !is_no_such_unit(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// The main PID of the unit at `path`, `None` when it has none (yet or any more).
    async fn main_pid(&self, path: &str) -> zbus::Result<Option<u32>> {
        let pid = service_proxy(&self.conn, path).await?.main_pid().await?;
        Ok((pid != 0).then_some(pid))
    }

    /// Starts the watcher for a unit that runs, returning the receiver of its exit.
    fn spawn_watcher(
        &self,
        plugin_id: &PluginId,
        changes: zbus::fdo::PropertiesChangedStream,
        path: String,
        armed: bool,
    ) -> oneshot::Receiver<ExitInfo> {
        let (tx, rx) = oneshot::channel();
        let watcher = Watcher {
            plugin_id: plugin_id.clone(),
            conn: self.conn.clone(),
            path,
            armed,
            exec_main: ExecMain::default(),
            result: None,
        };
        tokio::spawn(watcher.run(changes, tx));
        rx
    }
}

/// The outcome of one job, from its `JobRemoved` signal.
pub(super) async fn wait_for_job(
    jobs: &mut JobRemovedStream,
    job: &OwnedObjectPath,
) -> Result<JobResult, SystemdError> {
    while let Some(signal) = jobs.next().await {
        match signal.args() {
            Ok(args) if args.job() == job => return Ok(JobResult::from(args.result().as_str())),
            Ok(_) => {}
            Err(e) => tracing::debug!("ignoring an undecodable JobRemoved signal: {e}"),
        }
    }
    Err(SystemdError::ConnectionClosed)
}

#[async_trait]
impl SupervisorBackend for SystemdBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Systemd
    }

    fn socket_path(&self, plugin_id: &PluginId) -> PathBuf {
        self.config.socket_path(plugin_id)
    }

    async fn start(&self, spec: &LaunchSpec) -> Result<RunningPlugin, BackendError> {
        let id = &spec.plugin_id;
        let fail = |cause: SystemdError| BackendError::start(id, cause);
        let unit = unit_name(id);
        let path = unit_object_path(&unit);
        let props = unit_properties(spec, &self.config).map_err(fail)?;
        prepare_socket_dir(&self.config.socket_dir, id).map_err(|source| {
            fail(SystemdError::SocketDir {
                dir: self.config.socket_dir.clone(),
                source,
            })
        })?;

        // systemd may be restarting it already (the supervisor waited the delay systemd chose):
        // then follow that restart instead of starting another.
        if self.restarts_by_systemd()
            && let Some(running) = self.follow_existing(id, &unit).await.map_err(fail)?
        {
            return Ok(running);
        }

        // A failed unit of the same name stays loaded and would make the start fail with
        // UnitExists.
        self.reset_failed(&unit)
            .await
            .map_err(|e| fail(SystemdError::call("ResetFailedUnit")(e)))?;

        // Both streams before the start call, so neither the job's end nor a fast exit of the
        // plugin can slip through.
        let mut jobs = self
            .manager
            .receive_job_removed_with_args(&[(2, unit.as_str())])
            .await
            .map_err(|e| fail(SystemdError::call("AddMatch JobRemoved")(e)))?;
        let changes = self
            .unit_changes(&path)
            .await
            .map_err(|e| fail(SystemdError::call("AddMatch PropertiesChanged")(e)))?;

        let job = self
            .manager
            .start_transient_unit(&unit, "fail", &props, &[])
            .await
            .map_err(|e| fail(SystemdError::call("StartTransientUnit")(e)))?;
        let result = tokio::time::timeout(START_JOB_TIMEOUT, wait_for_job(&mut jobs, &job))
            .await
            .map_err(|_| {
                fail(SystemdError::StartJobTimeout {
                    unit: unit.clone(),
                    limit: START_JOB_TIMEOUT,
                })
            })?
            .map_err(fail)?;
        if result != JobResult::Done {
            // The unit stays loaded in the failed state for `systemctl status`; the next start
            // resets it.
            let details = dbus::failure_details(&self.conn, &path).await;
            return Err(fail(SystemdError::StartJobFailed {
                unit,
                result,
                details,
            }));
        }

        let pid = self
            .main_pid(&path)
            .await
            .map_err(|e| fail(SystemdError::call("Get MainPID")(e)))?;
        let exited = self.spawn_watcher(id, changes, path, false);
        tracing::info!(plugin = id.as_str(), unit, ?pid, "started plugin unit");
        Ok(RunningPlugin {
            pid,
            unit: Some(unit),
            exited,
            unseen_restarts: 0,
        })
    }

    async fn adopt(&self, plugin_id: &PluginId) -> Result<Option<RunningPlugin>, BackendError> {
        let inspect = |cause: SystemdError| BackendError::inspect(plugin_id, cause);
        let unit = unit_name(plugin_id);
        let Some((path, changes, phase)) = self.loaded_unit(&unit).await.map_err(inspect)? else {
            return Ok(None);
        };
        let unseen_restarts = self.systemd_restarts(&path).await;
        if phase.restart_scheduled && self.restarts_by_systemd() {
            // It crashed while the daemon was away and systemd is restarting it: wait for
            // that restart rather than starting another.
            let running = self
                .follow_restart(plugin_id, &unit, path, changes, phase)
                .await
                .map_err(inspect)?;
            return Ok(running.map(|running| RunningPlugin {
                unseen_restarts: unseen_restarts + 1,
                ..running
            }));
        }
        if !phase.active.is_running() {
            if phase.active == ActiveState::Failed {
                // A crashed leftover: clear it so the supervisor can start a fresh unit.
                self.reset_failed(&unit)
                    .await
                    .map_err(|e| inspect(SystemdError::call("ResetFailedUnit")(e)))?;
            }
            return Ok(None);
        }
        let pid = self
            .main_pid(&path)
            .await
            .map_err(|e| inspect(SystemdError::call("Get MainPID")(e)))?;
        let exited = self.spawn_watcher(plugin_id, changes, path, true);
        tracing::info!(plugin = plugin_id.as_str(), unit, ?pid, state = %phase.active, unseen_restarts, "adopted plugin unit");
        Ok(Some(RunningPlugin {
            pid,
            unit: Some(unit),
            exited,
            unseen_restarts,
        }))
    }

    async fn scheduled_restart(&self, plugin_id: &PluginId) -> Option<Duration> {
        if !self.restarts_by_systemd() {
            return None;
        }
        let unit = unit_name(plugin_id);
        let read = async {
            let path = self.manager.get_unit(&unit).await?.to_string();
            if !dbus::unit_phase(&self.conn, &path).await?.restart_scheduled {
                return Ok(None);
            }
            let next = service_proxy(&self.conn, &path)
                .await?
                .restart_usec_next()
                .await?;
            Ok::<_, zbus::Error>(Some(Duration::from_micros(next)))
        };
        read.await.unwrap_or_else(|e| {
            // Not loaded any more, or unreadable: the supervisor restarts it itself.
            tracing::debug!(
                plugin = plugin_id.as_str(),
                "no restart scheduled by systemd: {e}"
            );
            None
        })
    }

    async fn stop(&self, plugin_id: &PluginId, grace: Duration) -> Result<(), BackendError> {
        let fail = |cause: SystemdError| BackendError::stop(plugin_id, cause);
        let unit = unit_name(plugin_id);
        let mut jobs = self
            .manager
            .receive_job_removed_with_args(&[(2, unit.as_str())])
            .await
            .map_err(|e| fail(SystemdError::call("AddMatch JobRemoved")(e)))?;
        let job = match self.manager.stop_unit(&unit, "replace").await {
            Ok(job) => job,
            Err(e) if is_no_such_unit(&e) => return Ok(()),
            Err(e) => return Err(fail(SystemdError::call("StopUnit")(e))),
        };
        // SIGTERM went out with the job; SIGKILL after `grace` unless the job is done by then.
        let grace = grace.min(UNIT_STOP_TIMEOUT);
        let result = match tokio::time::timeout(grace, wait_for_job(&mut jobs, &job)).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    plugin = plugin_id.as_str(),
                    ?grace,
                    "plugin did not stop in time, killing it"
                );
                match self.manager.kill_unit(&unit, "all", SIGKILL).await {
                    Ok(()) => {}
                    // Gone in the meantime: the job finishes on its own.
                    Err(e) if is_no_such_unit(&e) => {}
                    Err(e) => return Err(fail(SystemdError::call("KillUnit")(e))),
                }
                tokio::time::timeout(KILL_WAIT, wait_for_job(&mut jobs, &job))
                    .await
                    .map_err(|_| {
                        fail(SystemdError::StillRunningAfterKill {
                            unit: unit.clone(),
                            waited: KILL_WAIT,
                        })
                    })?
            }
        }
        .map_err(fail)?;
        if result != JobResult::Done {
            return Err(fail(SystemdError::StopJobFailed { unit, result }));
        }
        // A plugin that exited non-zero on SIGTERM leaves a failed unit behind; clear it so the
        // name is free for the next start.
        self.reset_failed(&unit)
            .await
            .map_err(|e| fail(SystemdError::call("ResetFailedUnit")(e)))?;
        Ok(())
    }

    /// The unit's cgroup figures, read over D-Bus (three property reads); `None` when the unit
    /// is not loaded or not running.
    async fn usage(
        &self,
        plugin_id: &PluginId,
        _pid: Option<u32>,
    ) -> Result<Option<RawUsage>, BackendError> {
        let inspect = |cause: SystemdError| BackendError::inspect(plugin_id, cause);
        let unit = unit_name(plugin_id);
        let path = match self.manager.get_unit(&unit).await {
            Ok(path) => path.to_string(),
            Err(e) if is_no_such_unit(&e) => return Ok(None),
            Err(e) => return Err(inspect(SystemdError::call("GetUnit")(e))),
        };
        let read = async {
            let service = service_proxy(&self.conn, &path).await?;
            Ok::<_, zbus::Error>(RawUsage {
                memory_bytes: figure(service.memory_current().await?),
                cpu_nanos: figure(service.cpu_usage_nsec().await?),
                tasks: figure(service.tasks_current().await?),
            })
        };
        read.await
            .map(Some)
            .map_err(|e| inspect(SystemdError::call("Get resource figures")(e)))
    }

    async fn list_running(&self) -> Result<Vec<PluginId>, BackendError> {
        let pattern = format!("{UNIT_PREFIX}*");
        let units = self
            .manager
            .list_units_by_patterns(&[], &[pattern.as_str()])
            .await
            .map_err(|e| BackendError::List {
                source: SystemdError::call("ListUnitsByPatterns")(e).into(),
            })?;
        let mut ids: Vec<PluginId> = units
            .into_iter()
            .filter(|entry| entry.active_state().is_running())
            .filter_map(|entry| plugin_id_of_unit(&entry.name))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// In a sandboxed transient unit of its own (`metadata.rs`), never in the daemon's unit.
    async fn run_metadata(&self, run: &MetadataRun<'_>) -> Result<Vec<u8>, MetadataError> {
        super::metadata::run_in_unit(&self.conn, &self.manager, run).await
    }
}

/// The plugin id of a unit name, when it is one of ours (`toru-plugin-<valid id>.service`).
/// Units named like ours but with an id the daemon would never make are ignored, not touched.
fn plugin_id_of_unit(unit: &str) -> Option<PluginId> {
    let id = unit.strip_prefix(UNIT_PREFIX)?.strip_suffix(UNIT_SUFFIX)?;
    PluginId::new(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_map_back_to_valid_ids_only() {
        assert_eq!(
            plugin_id_of_unit("toru-plugin-hello.service")
                .as_ref()
                .map(PluginId::as_str),
            Some("hello")
        );
        assert_eq!(plugin_id_of_unit("toru-plugin-Bad_Id.service"), None);
        assert_eq!(plugin_id_of_unit("toru-plugin-hello.socket"), None);
        assert_eq!(plugin_id_of_unit("other.service"), None);
    }
}
