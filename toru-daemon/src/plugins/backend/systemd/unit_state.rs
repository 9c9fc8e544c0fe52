//! What systemd says about a unit and its jobs, as types: `ActiveState`, a job's result, and how
//! the main process ended (`ExecMainCode`/`ExecMainStatus`).
//!
//! systemd sends these as strings and integers and adds values over the years (`maintenance`,
//! `refreshing`), so every enum keeps a value it does not know in an `Unknown` variant instead of
//! failing to decode a signal.

use std::fmt;

use crate::plugins::backend::ExitInfo;

/// A unit's `ActiveState`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActiveState {
    /// Started and running.
    Active,
    /// Being reloaded; still running.
    Reloading,
    /// Not running; after a clean stop or never started.
    Inactive,
    /// Not running after a failure; stays loaded until reset.
    Failed,
    /// Being started.
    Activating,
    /// Being stopped; its processes may still run.
    Deactivating,
    /// A value this code does not know, kept as sent.
    Unknown(String),
}

impl ActiveState {
    /// Whether a unit in this state still has (or is about to have) a process. Includes
    /// `deactivating`: such a unit still exists, so it must be adopted (and its end reported)
    /// rather than started again, which would fail with `UnitExists`.
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            ActiveState::Active
                | ActiveState::Activating
                | ActiveState::Reloading
                | ActiveState::Deactivating
        )
    }

    /// Whether a unit in this state has ended.
    pub fn has_ended(&self) -> bool {
        matches!(self, ActiveState::Inactive | ActiveState::Failed)
    }
}

impl From<&str> for ActiveState {
    fn from(value: &str) -> Self {
        match value {
            "active" => ActiveState::Active,
            "reloading" => ActiveState::Reloading,
            "inactive" => ActiveState::Inactive,
            "failed" => ActiveState::Failed,
            "activating" => ActiveState::Activating,
            "deactivating" => ActiveState::Deactivating,
            other => ActiveState::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for ActiveState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActiveState::Active => "active",
            ActiveState::Reloading => "reloading",
            ActiveState::Inactive => "inactive",
            ActiveState::Failed => "failed",
            ActiveState::Activating => "activating",
            ActiveState::Deactivating => "deactivating",
            ActiveState::Unknown(other) => other,
        })
    }
}

/// A unit's `ActiveState` together with what its `SubState` says about a restart systemd has
/// scheduled by the unit's `Restart=` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPhase {
    /// Its `ActiveState`.
    pub active: ActiveState,
    /// systemd will start the unit again by itself: the sub-states between a failure and the
    /// restart (`failed-before-auto-restart`, `dead-before-auto-restart`, `auto-restart`,
    /// `auto-restart-queued`), which systemd ≥ 254 passes through under `Restart=on-failure`.
    pub restart_scheduled: bool,
}

impl UnitPhase {
    /// The phase of a unit in `active` with the sub-state `sub_state`.
    pub fn new(active: ActiveState, sub_state: &str) -> Self {
        let restart_scheduled = matches!(
            sub_state,
            "auto-restart"
                | "auto-restart-queued"
                | "dead-before-auto-restart"
                | "failed-before-auto-restart"
        );
        UnitPhase {
            active,
            restart_scheduled,
        }
    }
}

/// The `result` of a job, from its `JobRemoved` signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobResult {
    /// The job did what it was queued for.
    Done,
    /// Cancelled before it finished.
    Canceled,
    /// Its timeout passed.
    Timeout,
    /// It failed (for a start job of `Type=exec`: the binary could not be executed).
    Failed,
    /// A job it depended on failed.
    Dependency,
    /// Not applicable to the unit's state, so skipped.
    Skipped,
    /// A value this code does not know, kept as sent.
    Unknown(String),
}

impl From<&str> for JobResult {
    fn from(value: &str) -> Self {
        match value {
            "done" => JobResult::Done,
            "canceled" => JobResult::Canceled,
            "timeout" => JobResult::Timeout,
            "failed" => JobResult::Failed,
            "dependency" => JobResult::Dependency,
            "skipped" => JobResult::Skipped,
            other => JobResult::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for JobResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobResult::Done => "done",
            JobResult::Canceled => "canceled",
            JobResult::Timeout => "timeout",
            JobResult::Failed => "failed",
            JobResult::Dependency => "dependency",
            JobResult::Skipped => "skipped",
            JobResult::Unknown(other) => other,
        })
    }
}

/// `si_code` values of `ExecMainCode` (from `<signal.h>`): how the main process ended.
const CLD_EXITED: i32 = 1;
const CLD_KILLED: i32 = 2;
const CLD_DUMPED: i32 = 3;

/// A unit's `ExecMainCode` and `ExecMainStatus`, as far as they are known.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExecMain {
    /// A `CLD_*` code, 0 while the process runs.
    pub code: Option<i32>,
    /// The exit status or signal number, depending on `code`.
    pub status: Option<i32>,
}

impl ExecMain {
    /// The exit, when the code says the main process ended.
    pub fn exit_info(self) -> Option<ExitInfo> {
        match (self.code?, self.status?) {
            (CLD_EXITED, status) => Some(ExitInfo::Exited(status)),
            (CLD_KILLED | CLD_DUMPED, signal) => Some(ExitInfo::Killed(signal)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_states_round_trip_and_unknown_ones_are_kept() {
        for name in [
            "active",
            "reloading",
            "inactive",
            "failed",
            "activating",
            "deactivating",
            "maintenance",
        ] {
            assert_eq!(ActiveState::from(name).to_string(), name);
        }
        assert_eq!(
            ActiveState::from("refreshing"),
            ActiveState::Unknown("refreshing".to_owned())
        );
    }

    #[test]
    fn deactivating_units_count_as_running_and_unknown_states_as_neither() {
        let running = |s: &str| ActiveState::from(s).is_running();
        let ended = |s: &str| ActiveState::from(s).has_ended();
        assert!(running("active") && running("activating") && running("deactivating"));
        assert!(ended("inactive") && ended("failed"));
        assert!(!running("inactive") && !ended("active"));
        assert!(!running("maintenance") && !ended("maintenance"));
    }

    #[test]
    fn job_results_round_trip_and_unknown_ones_are_kept() {
        for name in [
            "done",
            "canceled",
            "timeout",
            "failed",
            "dependency",
            "skipped",
        ] {
            assert_eq!(JobResult::from(name).to_string(), name);
        }
        assert_eq!(
            JobResult::from("invalid"),
            JobResult::Unknown("invalid".to_owned())
        );
    }

    #[test]
    fn exit_codes_map_to_exit_info() {
        let e = |code, status| {
            ExecMain {
                code: Some(code),
                status: Some(status),
            }
            .exit_info()
        };
        assert_eq!(e(CLD_EXITED, 3), Some(ExitInfo::Exited(3)));
        assert_eq!(e(CLD_KILLED, 9), Some(ExitInfo::Killed(9)));
        assert_eq!(e(CLD_DUMPED, 11), Some(ExitInfo::Killed(11)));
        assert_eq!(e(0, 0), None);
    }
}
