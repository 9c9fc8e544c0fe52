//! `BINARY --metadata` in a transient unit of its own, `toru-metadata-<random>.service`, instead
//! of a child of the daemon: outside the daemon's own `MemoryDenyWriteExecute=`, under which a
//! runtime with a JIT (Node.js) aborts before it can print anything, and inside the plugin
//! sandbox instead of unsandboxed as the daemon's user.
//!
//! The daemon makes two pipes and hands their write ends to systemd as the unit's stdout and
//! stderr (`StandardOutputFileDescriptor`, `StandardErrorFileDescriptor`, as `systemd-run --pipe`
//! does; with a descriptor for stdout, systemd 252 connected stderr to nothing when asked for the
//! journal). It reads stdout within the run's bounds and keeps the start of stderr for the reason
//! of a failure, then follows the unit's `PropertiesChanged` signals until it has ended, and stops
//! it when a bound is hit or the run is dropped.
//!
//! Which sandbox: the permissions are only known from the answer, so the run gets the default
//! plugin sandbox with the one relaxation every runtime may need to start at all (`jit`:
//! writable-then-executable memory), no network whatsoever (`PrivateNetwork=yes`), and no
//! socket directory. A plugin that needs `network`, paths or devices must not need them to
//! print its metadata.

use std::os::fd::OwnedFd;
use std::time::Duration;

use futures::StreamExt;
use toru_plugin_api::Permissions;
use zbus::{Connection, Fd, Variant};

use super::backend::wait_for_job;
use super::dbus::{self, ManagerProxy, service_proxy, unit_object_path, unit_phase_of};
use super::error::{FailureDetails, SystemdError, is_no_such_unit};
use super::properties::{PLUGIN_SLICE, micros};
use super::sandbox::{limit_properties, sandbox_properties};
use super::unit_state::{ActiveState, ExecMain, JobResult};
use crate::plugins::backend::metadata::read_capped;
use crate::plugins::backend::{ExitInfo, MetadataError, MetadataRun};

/// Every `--metadata` unit's name starts with this; the rest is random, since no id is known
/// before the metadata is read.
pub const METADATA_UNIT_PREFIX: &str = "toru-metadata-";

/// `TimeoutStopUSec` of a `--metadata` unit: stopping it after a bound was hit sends SIGTERM,
/// then SIGKILL after this.
const METADATA_STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// How much of a run's stderr is kept for the reason of a failure; the rest is read and dropped,
/// so a talkative binary never blocks on a full pipe.
const STDERR_KEPT: usize = 4096;
/// How much of the kept stderr a reason shows.
const STDERR_SHOWN: usize = 200;
/// Exit statuses 200–243 are systemd's own: the unit failed before the binary ran (203: it could
/// not be executed; 226: the namespaces could not be set up).
const SYSTEMD_EXIT_STATUSES: std::ops::RangeInclusive<i32> = 200..=243;
/// How long stopping a `--metadata` unit may take, SIGKILL included.
const METADATA_STOP_WAIT: Duration = Duration::from_secs(5);
/// `RuntimeMaxUSec` is the run's timeout plus this: the backstop that ends a unit whose daemon
/// died, or dropped the run, before it could stop it.
const RUNTIME_MAX_MARGIN: Duration = Duration::from_secs(5);

/// The permissions a `--metadata` run gets: the default sandbox, W^X relaxed. See the module
/// documentation.
fn metadata_permissions() -> Permissions {
    Permissions {
        jit: true,
        ..Permissions::default()
    }
}

/// A fresh unit name, `toru-metadata-<16 hex digits>.service`: unique among concurrent runs and
/// leftovers of an earlier daemon alike.
fn metadata_unit_name() -> String {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).expect("the OS random number generator is available");
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{METADATA_UNIT_PREFIX}{hex}.service")
}

/// The properties of a `--metadata` unit: what runs, where its output goes, its bounds, and the
/// shared sandbox of `sandbox.rs` with [`metadata_permissions`] and no network. `stdout` and
/// `stderr` are the write ends of the daemon's pipes.
pub fn metadata_unit_properties(
    run: &MetadataRun<'_>,
    stdout: OwnedFd,
    stderr: OwnedFd,
) -> Result<Vec<(&'static str, Variant<'static>)>, SystemdError> {
    let binary = run
        .binary
        .to_str()
        .filter(|_| run.binary.is_absolute())
        .ok_or_else(|| SystemdError::BinaryPath(run.binary.to_owned()))?
        .to_owned();
    let mut props: Vec<(&'static str, Variant<'static>)> = vec![
        ("Description", format!("Toru: {binary} --metadata").into()),
        // `exec`: the start job fails when the binary cannot be executed.
        ("Type", "exec".into()),
        (
            "ExecStart",
            vec![(binary.clone(), vec![binary, "--metadata".to_owned()], false)].into(),
        ),
        ("StandardInput", "null".into()),
        (
            "StandardOutputFileDescriptor",
            Variant::from(Fd::from(stdout)),
        ),
        (
            "StandardErrorFileDescriptor",
            Variant::from(Fd::from(stderr)),
        ),
        // With the plugins, so stopping the slice stops these too.
        ("Slice", PLUGIN_SLICE.into()),
        ("TimeoutStopUSec", micros(METADATA_STOP_TIMEOUT).into()),
        (
            "RuntimeMaxUSec",
            micros(run.timeout + RUNTIME_MAX_MARGIN).into(),
        ),
        // Not even loopback: nothing to reach while printing metadata.
        ("PrivateNetwork", true.into()),
    ];
    props.extend(sandbox_properties(&metadata_permissions())?);
    props.extend(limit_properties(&run.limits));
    Ok(props)
}

/// Runs `--metadata` in a fresh unit within the run's bounds and returns its stdout.
pub(super) async fn run_in_unit(
    conn: &Connection,
    manager: &ManagerProxy<'static>,
    run: &MetadataRun<'_>,
) -> Result<Vec<u8>, MetadataError> {
    let unit = metadata_unit_name();
    let path = unit_object_path(&unit);
    let failed_call = |call| move |e| MetadataError::Backend(SystemdError::call(call)(e).into());
    let (out_read, out_write) = std::io::pipe().map_err(MetadataError::Read)?;
    let (err_read, err_write) = std::io::pipe().map_err(MetadataError::Read)?;
    let stdout = tokio::net::unix::pipe::Receiver::from_owned_fd(out_read.into())
        .map_err(MetadataError::Read)?;
    let stderr = tokio::net::unix::pipe::Receiver::from_owned_fd(err_read.into())
        .map_err(MetadataError::Read)?;
    let props = metadata_unit_properties(run, out_write.into(), err_write.into())
        .map_err(|e| MetadataError::Backend(e.into()))?;
    // Read from the start, so a binary that writes much to stderr never blocks on it; aborted
    // with the run.
    let stderr = AbortOnDrop(tokio::spawn(keep_start_of(stderr)));

    // Both streams before the start call, so neither the job's end nor the unit's can slip by.
    let mut jobs = manager
        .receive_job_removed_with_args(&[(2, unit.as_str())])
        .await
        .map_err(failed_call("AddMatch JobRemoved"))?;
    let mut changes = dbus::unit_changes(conn, &path)
        .await
        .map_err(failed_call("AddMatch PropertiesChanged"))?;
    let deadline = tokio::time::Instant::now() + run.timeout;
    let job = manager
        .start_transient_unit(&unit, "fail", &props, &[])
        .await
        .map_err(failed_call("StartTransientUnit"))?;
    // The daemon's copies of the write ends go now: a pipe reaches its end when the unit's
    // processes have closed theirs.
    drop(props);
    let mut guard = StopOnDrop {
        manager: Some(manager.clone()),
        unit: unit.clone(),
    };

    let finish = async {
        let started = wait_for_job(&mut jobs, &job)
            .await
            .map_err(|e| MetadataError::Backend(e.into()))?;
        if started != JobResult::Done {
            let details = failure_details(conn, &path).await;
            let _ = manager.reset_failed_unit(&unit).await;
            // A binary that ran and failed at once can fail the start job too; only systemd's
            // own statuses mean it never ran.
            if let FailureDetails::Read {
                exit: Some(exit), ..
            } = &details
                && !matches!(exit, ExitInfo::Exited(status) if SYSTEMD_EXIT_STATUSES.contains(status))
            {
                return Err(MetadataError::Failed {
                    exit: exit.clone(),
                    stderr: stderr_tail(stderr).await,
                });
            }
            return Err(MetadataError::CannotExecute(
                SystemdError::StartJobFailed {
                    unit: unit.clone(),
                    result: started,
                    details,
                }
                .to_string(),
            ));
        }
        let output = read_capped(stdout, run.max_output)
            .await
            .map_err(MetadataError::Read)?
            .ok_or(MetadataError::TooMuchOutput(run.max_output))?;
        if let Err(exit) = wait_for_end(conn, manager, &mut changes, &unit, &path).await? {
            return Err(MetadataError::Failed {
                exit,
                stderr: stderr_tail(stderr).await,
            });
        }
        Ok(output)
    };
    let result = match tokio::time::timeout_at(deadline, finish).await {
        Ok(result) => result,
        Err(_) => Err(MetadataError::TimedOut(run.timeout)),
    };
    match result {
        // Ended by itself: nothing left to stop.
        Ok(_) | Err(MetadataError::Failed { .. } | MetadataError::CannotExecute(_)) => {
            guard.manager = None;
        }
        Err(_) => {
            if let Some(manager) = guard.manager.take() {
                stop(&manager, &unit).await;
            }
        }
    }
    result
}

/// Waits until the unit has ended: `Ok(Ok(()))` when it exited successfully, `Ok(Err(exit))`
/// otherwise (the failed unit is then reset, which unloads it).
///
/// A unit that exits successfully is collected at once, one that fails stays loaded until reset,
/// so the state read after any end signal tells: gone or `inactive` is success, `failed` is a
/// failure to read the details of. Reading it also tells the unit's first `inactive` signal, from
/// its creation, apart from the end: the start job is done, so the unit is running then.
async fn wait_for_end(
    conn: &Connection,
    manager: &ManagerProxy<'static>,
    changes: &mut zbus::fdo::PropertiesChangedStream,
    unit: &str,
    path: &str,
) -> Result<Result<(), ExitInfo>, MetadataError> {
    while let Some(signal) = changes.next().await {
        if !unit_phase_of(&signal).is_some_and(|phase| phase.active.has_ended()) {
            continue;
        }
        match dbus::unit_phase(conn, path).await.map(|phase| phase.active) {
            Err(e) if is_no_such_unit(&e) => return Ok(Ok(())),
            Err(e) => {
                return Err(MetadataError::Backend(
                    SystemdError::call("Get ActiveState")(e).into(),
                ));
            }
            Ok(ActiveState::Inactive) => return Ok(Ok(())),
            Ok(ActiveState::Failed) => {
                let exit = match failure_details(conn, path).await {
                    FailureDetails::Read {
                        exit: Some(exit), ..
                    } => exit,
                    other => ExitInfo::Unknown(other.to_string()),
                };
                let _ = manager.reset_failed_unit(unit).await;
                return Ok(Err(exit));
            }
            Ok(_) => {}
        }
    }
    Err(MetadataError::Backend(
        SystemdError::ConnectionClosed.into(),
    ))
}

/// Reads `stderr` to its end, keeping the first [`STDERR_KEPT`] bytes.
async fn keep_start_of(mut stderr: tokio::net::unix::pipe::Receiver) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut kept = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
        let room = STDERR_KEPT.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
    kept
}

/// The start of what a failed run wrote to stderr, as one line for its reason. Its processes
/// have ended, so the pipe is at its end or about to be; a helper that keeps it open is not
/// waited for.
async fn stderr_tail(mut stderr: AbortOnDrop<Vec<u8>>) -> String {
    let kept = tokio::time::timeout(Duration::from_millis(500), &mut stderr.0)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&kept);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(STDERR_SHOWN).collect()
}

/// Aborts a task when dropped, so a run's stderr reader never outlives the run.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a failed unit says about its failure.
async fn failure_details(conn: &Connection, path: &str) -> FailureDetails {
    let read = async {
        let service = service_proxy(conn, path).await?;
        let exec_main = ExecMain {
            code: Some(service.exec_main_code().await?),
            status: Some(service.exec_main_status().await?),
        };
        Ok::<_, zbus::Error>(FailureDetails::Read {
            result: service.result().await?,
            exit: exec_main.exit_info(),
        })
    };
    read.await.unwrap_or_else(FailureDetails::Unreadable)
}

/// Stops the unit (SIGTERM, SIGKILL after [`METADATA_STOP_TIMEOUT`]) and unloads it, waiting at
/// most [`METADATA_STOP_WAIT`]. Best effort: a unit this cannot stop ends at its
/// `RuntimeMaxUSec`.
async fn stop(manager: &ManagerProxy<'static>, unit: &str) {
    let stopped = async {
        let mut jobs = manager.receive_job_removed_with_args(&[(2, unit)]).await?;
        match manager.stop_unit(unit, "replace").await {
            Ok(job) => {
                let _ = wait_for_job(&mut jobs, &job).await;
            }
            Err(e) if is_no_such_unit(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
        match manager.reset_failed_unit(unit).await {
            Err(e) if !is_no_such_unit(&e) => Err(e),
            _ => Ok(()),
        }
    };
    match tokio::time::timeout(METADATA_STOP_WAIT, stopped).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(unit, error = %e, "cannot stop a --metadata unit"),
        Err(_) => tracing::warn!(unit, "a --metadata unit did not stop in time"),
    }
}

/// Stops the unit in the background when a run is dropped before it finished (the daemon shuts
/// down during a scan). Disarmed by taking `manager`.
struct StopOnDrop {
    manager: Option<ManagerProxy<'static>>,
    unit: String,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let Some(manager) = self.manager.take() else {
            return;
        };
        let unit = std::mem::take(&mut self.unit);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { stop(&manager, &unit).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run(binary: &Path) -> MetadataRun<'_> {
        MetadataRun {
            binary,
            timeout: Duration::from_secs(5),
            max_output: 64 * 1024,
            limits: Default::default(),
        }
    }

    fn props_for(binary: &Path) -> Result<Vec<(&'static str, Variant<'static>)>, SystemdError> {
        let (_, out) = std::io::pipe().unwrap();
        let (_, err) = std::io::pipe().unwrap();
        metadata_unit_properties(&run(binary), out.into(), err.into())
    }

    fn props() -> Vec<(&'static str, Variant<'static>)> {
        props_for(Path::new("/plugins/x.binary")).unwrap()
    }

    #[test]
    fn unit_names_are_fresh_and_valid() {
        let (a, b) = (metadata_unit_name(), metadata_unit_name());
        assert_ne!(a, b);
        for name in [a, b] {
            let random = name
                .strip_prefix(METADATA_UNIT_PREFIX)
                .and_then(|n| n.strip_suffix(".service"))
                .unwrap();
            assert_eq!(random.len(), 16, "{name}");
            assert!(random.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        }
    }

    #[test]
    fn the_run_gets_the_plugin_sandbox_with_jit_and_no_network() {
        let props = props();
        let get = |name: &str| props.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(get("MemoryDenyWriteExecute"), Variant::from(false));
        assert_eq!(get("PrivateNetwork"), Variant::from(true));
        assert_eq!(get("DynamicUser"), Variant::from(true));
        assert_eq!(get("ProtectSystem"), Variant::from("strict"));
        for pipe in [
            "StandardOutputFileDescriptor",
            "StandardErrorFileDescriptor",
        ] {
            assert_eq!(get(pipe).value_signature().to_string(), "h", "{pipe}");
        }
        // No socket directory: nothing to bind.
        assert!(
            !props
                .iter()
                .any(|(n, _)| *n == "BindPaths" || *n == "RuntimeDirectory")
        );
        // Every other sandbox directive is the plugins' own.
        let sandbox = sandbox_properties(&Permissions::default()).unwrap();
        for (name, value) in sandbox
            .iter()
            .filter(|(n, _)| *n != "MemoryDenyWriteExecute")
        {
            assert!(
                props.iter().any(|(n, v)| n == name && v == value),
                "{name} differs from the plugin sandbox"
            );
        }
    }

    #[test]
    fn a_relative_binary_is_refused() {
        assert!(props_for(Path::new("x.binary")).is_err());
    }
}
