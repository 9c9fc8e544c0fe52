//! A plugin's lifecycle as a pure state machine: the states of the diagram in ARCHITECTURE.md
//! ("Supervision"), each carrying its own data, changed only by [`Lifecycle::apply`].
//!
//! Nothing here does I/O or reads a clock: the supervisor and the manager turn what happened
//! (a process started, a connection answered `lifecycle.ready`, the admin disabled the plugin)
//! into an [`Event`], and the lifecycle either moves or refuses. What clients see,
//! [`PluginStatus`], is computed from the lifecycle alone ([`Lifecycle::status`]), so no field
//! can disagree with another (no `enabled: true, state: disabled`).
//!
//! What `enabled` (the admin wants it to run, as `config.json` says) means per state:
//! `disabled` no; `starting`, `running`, `backoff` yes; `stopping` yes unless it is being
//! stopped because it was disabled; `failed` no (giving up disables it).

use std::time::Duration;

use super::settings::RestartPolicy;
use super::status::{PluginState, PluginStatus};

/// A plugin process the backend started or adopted, as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Its main PID, when the backend knows it.
    pub pid: Option<u32>,
    /// Its systemd unit, under the systemd backend.
    pub unit: Option<String>,
}

/// Why a running (or starting) plugin is being stopped; decides where it goes once stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopIntent {
    /// The admin disabled it: it ends `disabled`.
    Disable,
    /// Its licence key changed, which a plugin reads only at `lifecycle.init`: it starts again.
    Restart,
    /// It failed while alive (3 pings missed, a failed `lifecycle.init`, a connection closed
    /// without the process ending): the failure is counted once it is gone.
    Recover,
}

/// Where a plugin is, with what is true only there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not enabled; nothing runs.
    Disabled,
    /// Being started (or adopted) and connected to; `process` once the backend has one.
    Starting {
        /// The process, once started.
        process: Option<Process>,
    },
    /// Connected and initialised: its routes are served.
    Running {
        /// The process.
        process: Process,
        /// `false` from the first missed ping until one is answered again.
        healthy: bool,
    },
    /// Its process is being stopped.
    Stopping {
        /// The process being stopped.
        process: Process,
        /// Why, and so where it goes next.
        intent: StopIntent,
    },
    /// Failed; the next start waits `delay`.
    Backoff {
        /// From the restart policy, for the failure count at the time.
        delay: Duration,
    },
    /// Gave up after too many failures in a row; disabled until an admin enables it again.
    Failed,
}

impl State {
    /// The state's name, as clients see it.
    pub fn kind(&self) -> PluginState {
        match self {
            State::Disabled => PluginState::Disabled,
            State::Starting { .. } => PluginState::Starting,
            State::Running { .. } => PluginState::Running,
            State::Stopping { .. } => PluginState::Stopping,
            State::Backoff { .. } => PluginState::Backoff,
            State::Failed => PluginState::Failed,
        }
    }

    /// Whether the admin wants the plugin to run (see the module documentation).
    pub fn enabled(&self) -> bool {
        match self {
            State::Disabled | State::Failed => false,
            State::Starting { .. } | State::Running { .. } | State::Backoff { .. } => true,
            State::Stopping { intent, .. } => *intent != StopIntent::Disable,
        }
    }

    fn process(&self) -> Option<&Process> {
        match self {
            State::Starting { process } => process.as_ref(),
            State::Running { process, .. } | State::Stopping { process, .. } => Some(process),
            State::Disabled | State::Backoff { .. } | State::Failed => None,
        }
    }
}

/// Something that happened to a plugin, sent by the manager or its supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The admin enabled it, or the daemon restores it at start. Resets the counters.
    Enable,
    /// The backend started or adopted its process. `unseen_restarts` are restarts the backend
    /// made by itself that the daemon did not see (systemd restarting a unit while the daemon
    /// was away); they are counted.
    Launched {
        /// The process.
        process: Process,
        /// Restarts to count that happened without the daemon.
        unseen_restarts: u32,
    },
    /// It is connected and answered `lifecycle.init` with `lifecycle.ready`.
    Ready,
    /// It missed a ping after answering the one before.
    PingMissed,
    /// It answered a ping after missing some.
    PingAnswered,
    /// The supervisor begins stopping its process.
    Stop(StopIntent),
    /// The process stopped on request is gone.
    Stopped,
    /// The run failed: it did not start, exited, closed its connection, or was stopped after
    /// failing. `stable` says it had run long enough to reset the failure count first.
    Failed {
        /// What happened, for the admin.
        reason: String,
        /// It ran at least `stable_after`.
        stable: bool,
        /// The backend restarts it by itself after this delay (systemd ≥ 254); the backoff
        /// shows and waits that instead of the policy's own.
        scheduled: Option<Duration>,
    },
    /// The backoff delay has passed.
    Retry,
}

impl Event {
    /// The event's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Enable => "enable",
            Event::Launched { .. } => "launched",
            Event::Ready => "ready",
            Event::PingMissed => "ping_missed",
            Event::PingAnswered => "ping_answered",
            Event::Stop(_) => "stop",
            Event::Stopped => "stopped",
            Event::Failed { .. } => "failed",
            Event::Retry => "retry",
        }
    }
}

/// A move [`Lifecycle::apply`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: PluginState,
    /// The state after, with its data (e.g. the backoff delay to wait).
    pub to: State,
}

/// An event the current state has no arrow for. The lifecycle is unchanged; it means a bug in
/// whoever sent the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no transition for {event} in state {state}")]
pub struct IllegalTransition {
    /// The state that refused.
    pub state: PluginState,
    /// The refused event's name.
    pub event: &'static str,
}

/// What the lifecycle counts across runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counters {
    restarts: u32,
    consecutive_failures: u32,
    last_error: Option<String>,
}

/// One plugin's lifecycle: its state, its counters and the restart policy that decides between
/// backing off and giving up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    state: State,
    counters: Counters,
    policy: RestartPolicy,
}

impl Lifecycle {
    /// A plugin that is not enabled.
    pub fn new(policy: RestartPolicy) -> Self {
        Lifecycle {
            state: State::Disabled,
            counters: Counters::default(),
            policy,
        }
    }

    /// Where it is now.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The one mutator: moves along the arrow `event` names from the current state, or refuses
    /// and changes nothing.
    pub fn apply(&mut self, event: Event) -> Result<Transition, IllegalTransition> {
        use State as S;
        let from = self.state.kind();
        let next = match (&self.state, event) {
            (S::Disabled | S::Failed, Event::Enable) => {
                self.counters = Counters::default();
                S::Starting { process: None }
            }
            (
                S::Starting { process: None },
                Event::Launched {
                    process,
                    unseen_restarts,
                },
            ) => {
                self.counters.restarts = self.counters.restarts.saturating_add(unseen_restarts);
                S::Starting {
                    process: Some(process),
                }
            }
            (S::Starting { process: Some(p) }, Event::Ready) => S::Running {
                process: p.clone(),
                healthy: true,
            },
            (
                S::Running {
                    process,
                    healthy: true,
                },
                Event::PingMissed,
            ) => S::Running {
                process: process.clone(),
                healthy: false,
            },
            (
                S::Running {
                    process,
                    healthy: false,
                },
                Event::PingAnswered,
            ) => S::Running {
                process: process.clone(),
                healthy: true,
            },
            (
                S::Starting {
                    process: Some(process),
                }
                | S::Running { process, .. },
                Event::Stop(intent),
            ) => S::Stopping {
                process: process.clone(),
                intent,
            },
            (S::Backoff { .. }, Event::Stop(StopIntent::Disable)) => S::Disabled,
            (S::Backoff { .. }, Event::Stop(StopIntent::Restart)) => S::Starting { process: None },
            (
                S::Stopping {
                    intent: StopIntent::Disable,
                    ..
                },
                Event::Stopped,
            ) => S::Disabled,
            (
                S::Stopping {
                    intent: StopIntent::Restart,
                    ..
                },
                Event::Stopped,
            ) => S::Starting { process: None },
            (
                S::Starting { .. }
                | S::Running { .. }
                | S::Stopping {
                    intent: StopIntent::Recover,
                    ..
                },
                Event::Failed {
                    reason,
                    stable,
                    scheduled,
                },
            ) => self.fail(reason, stable, scheduled),
            (S::Backoff { .. }, Event::Retry) => {
                self.counters.restarts = self.counters.restarts.saturating_add(1);
                S::Starting { process: None }
            }
            (_, event) => {
                return Err(IllegalTransition {
                    state: from,
                    event: event.name(),
                });
            }
        };
        self.state = next.clone();
        Ok(Transition { from, to: next })
    }

    /// Counts a failure and decides: back off (for the backend's `scheduled` delay when it
    /// restarts the plugin itself, else the policy's), or give up at the policy's limit.
    fn fail(&mut self, reason: String, stable: bool, scheduled: Option<Duration>) -> State {
        let failures = if stable {
            1
        } else {
            self.counters.consecutive_failures.saturating_add(1)
        };
        self.counters.consecutive_failures = failures;
        if failures >= self.policy.max_failures {
            // Both the give-up and its cause: "gave up" alone leaves nothing to fix.
            self.counters.last_error = Some(format!(
                "gave up after {failures} consecutive failures; disabled. Last failure: {reason}"
            ));
            State::Failed
        } else {
            self.counters.last_error = Some(reason);
            State::Backoff {
                delay: scheduled.unwrap_or_else(|| self.policy.backoff.delay(failures)),
            }
        }
    }

    /// What clients see: a pure function of the state and the counters.
    pub fn status(&self) -> PluginStatus {
        let process = self.state.process();
        PluginStatus {
            enabled: self.state.enabled(),
            state: self.state.kind(),
            healthy: matches!(self.state, State::Running { healthy: true, .. }),
            pid: process.and_then(|p| p.pid),
            unit: process.and_then(|p| p.unit.clone()),
            restarts: self.counters.restarts,
            consecutive_failures: self.counters.consecutive_failures,
            last_error: self.counters.last_error.clone(),
        }
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
