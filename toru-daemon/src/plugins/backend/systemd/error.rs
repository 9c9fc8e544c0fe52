//! [`SystemdError`]: why a call of the systemd backend failed, the `source` of its
//! [`BackendError`](crate::plugins::backend::BackendError)s.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::unit_state::JobResult;
use crate::plugins::backend::ExitInfo;

/// systemd's error for a unit that is not loaded (never started, or already collected).
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";

/// Everything the systemd backend can fail at. D-Bus failures keep zbus's error (with
/// systemd's error name and message) as their source.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    /// The system bus could not be reached.
    #[error("cannot connect to the system bus")]
    Bus(#[source] zbus::Error),
    /// A D-Bus call failed; `call` names it as systemd's API does (`StartTransientUnit`, `Get
    /// MainPID`, `AddMatch JobRemoved`, …).
    #[error("{call}")]
    Call {
        /// The call.
        call: &'static str,
        /// zbus's error, with systemd's error name when systemd answered.
        #[source]
        source: zbus::Error,
    },
    /// `ExecStart=` needs an absolute UTF-8 path.
    #[error("the plugin binary path {} must be absolute and UTF-8", .0.display())]
    BinaryPath(PathBuf),
    /// The spec's socket is not where the unit can create it.
    #[error(
        "socket path {} is not {}, the only place the unit can create it",
        .socket.display(),
        .expected.display()
    )]
    SocketOutsideRuntimeDirectory {
        /// The spec's socket.
        socket: PathBuf,
        /// The only socket path the unit can create.
        expected: PathBuf,
    },
    /// The declared permissions are not valid (checked again after discovery).
    #[error("refusing its permissions")]
    Permissions(#[source] toru_plugin_api::PermissionError),
    /// The daemon's socket directory for the plugin could not be made ready.
    #[error("cannot prepare its socket directory in {}", .dir.display())]
    SocketDir {
        /// The daemon's directory of plugin socket directories.
        dir: PathBuf,
        /// The filesystem error.
        #[source]
        source: std::io::Error,
    },
    /// The start job did not finish in time (a wedged systemd).
    #[error("the start job of {unit} did not finish within {}s", .limit.as_secs())]
    StartJobTimeout {
        /// The unit.
        unit: String,
        /// How long it was given.
        limit: Duration,
    },
    /// A restart systemd scheduled did not bring the unit up in time.
    #[error("systemd did not restart {unit} within {}s", .limit.as_secs())]
    RestartTimeout {
        /// The unit.
        unit: String,
        /// How long the daemon waited.
        limit: Duration,
    },
    /// The start job finished but did not start the unit.
    #[error(
        "the start job of {unit} ended with \"{result}\" ({details}); see `journalctl -u {unit}`"
    )]
    StartJobFailed {
        /// The unit.
        unit: String,
        /// The job's result.
        result: JobResult,
        /// What the unit says about the failure.
        details: FailureDetails,
    },
    /// The stop job finished without stopping the unit.
    #[error("the stop job of {unit} ended with \"{result}\"")]
    StopJobFailed {
        /// The unit.
        unit: String,
        /// The job's result.
        result: JobResult,
    },
    /// The unit's processes survived SIGKILL.
    #[error("{unit} still runs {}s after SIGKILL", .waited.as_secs())]
    StillRunningAfterKill {
        /// The unit.
        unit: String,
        /// How long the backend waited after SIGKILL.
        waited: Duration,
    },
    /// The D-Bus connection ended before the job's `JobRemoved` signal came.
    #[error("the D-Bus connection closed while waiting for the job")]
    ConnectionClosed,
}

impl SystemdError {
    /// A [`SystemdError::Call`] of `call`.
    pub fn call(call: &'static str) -> impl FnOnce(zbus::Error) -> SystemdError {
        move |source| SystemdError::Call { call, source }
    }
}

/// What a failed unit says about its failure, for the error message: its `Result` and how the
/// main process ended. Exit statuses 200–243 are systemd's own, e.g. 203 = the binary could not
/// be executed, 226 = the sandbox's namespaces could not be set up.
#[derive(Debug)]
pub enum FailureDetails {
    /// Read from the unit.
    Read {
        /// The service's `Result` (`exit-code`, `signal`, `timeout`, …).
        result: String,
        /// How the main process ended, when it did.
        exit: Option<ExitInfo>,
    },
    /// The unit could not be read (already collected, or the bus failed).
    Unreadable(zbus::Error),
}

impl fmt::Display for FailureDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureDetails::Read { result, exit } => match exit {
                Some(ExitInfo::Exited(status)) => {
                    write!(
                        f,
                        "unit result {result:?}, main process exit status {status}"
                    )
                }
                Some(ExitInfo::Killed(signal)) => {
                    write!(
                        f,
                        "unit result {result:?}, main process killed by signal {signal}"
                    )
                }
                _ => write!(f, "unit result {result:?}"),
            },
            FailureDetails::Unreadable(e) => write!(f, "unit result unknown: {e}"),
        }
    }
}

/// Whether a call failed because the unit is not loaded.
pub fn is_no_such_unit(e: &zbus::Error) -> bool {
    match e {
        zbus::Error::MethodError(name, _, _) => name.as_str() == NO_SUCH_UNIT,
        zbus::Error::FDO(fdo) => zbus::DBusError::name(fdo.as_ref()).as_str() == NO_SUCH_UNIT,
        _ => false,
    }
}
