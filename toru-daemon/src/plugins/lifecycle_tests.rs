//! The lifecycle against the diagram in ARCHITECTURE.md ("Supervision"): every arrow is taken,
//! every other (state, event) pair is refused, and no reachable state shows a contradictory
//! status.

use std::time::Duration;

use super::*;
use crate::plugins::settings::Backoff;

/// Gives up at the third failure in a row, as the integration tests' settings do.
const POLICY: RestartPolicy = RestartPolicy {
    max_failures: 3,
    backoff: Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(16),
    },
};

fn process() -> Process {
    Process {
        pid: Some(42),
        unit: Some("toru-plugin-x.service".to_owned()),
    }
}

fn launched_event() -> Event {
    Event::Launched {
        process: process(),
        unseen_restarts: 0,
    }
}

fn crashed() -> Event {
    Event::Failed {
        reason: "exited with status 1".to_owned(),
        stable: false,
        scheduled: None,
    }
}

/// A lifecycle in `state` with `failures` counted so far.
fn at(state: State, failures: u32) -> Lifecycle {
    let mut lifecycle = Lifecycle::new(POLICY);
    lifecycle.state = state;
    lifecycle.counters.consecutive_failures = failures;
    lifecycle
}

/// Every state of the diagram, in each variant that changes where it may go.
fn states() -> Vec<(&'static str, State)> {
    let stopping = |intent| State::Stopping {
        process: process(),
        intent,
    };
    vec![
        ("disabled", State::Disabled),
        ("starting", State::Starting { process: None }),
        (
            "starting, launched",
            State::Starting {
                process: Some(process()),
            },
        ),
        (
            "running",
            State::Running {
                process: process(),
                healthy: true,
            },
        ),
        (
            "running, unhealthy",
            State::Running {
                process: process(),
                healthy: false,
            },
        ),
        ("stopping to disable", stopping(StopIntent::Disable)),
        ("stopping to restart", stopping(StopIntent::Restart)),
        ("stopping to recover", stopping(StopIntent::Recover)),
        (
            "backoff",
            State::Backoff {
                delay: Duration::from_secs(1),
            },
        ),
        ("failed", State::Failed),
    ]
}

fn events() -> Vec<Event> {
    vec![
        Event::Enable,
        launched_event(),
        Event::Ready,
        Event::PingMissed,
        Event::PingAnswered,
        Event::Stop(StopIntent::Disable),
        Event::Stop(StopIntent::Restart),
        Event::Stop(StopIntent::Recover),
        Event::Stopped,
        crashed(),
        Event::Retry,
    ]
}

/// One arrow of the diagram: from a state (by its name in [`states`], with this many failures
/// already counted), on an event, to a state.
struct Arrow {
    from: &'static str,
    failures: u32,
    event: Event,
    to: State,
}

fn arrow(from: &'static str, event: Event, to: State) -> Arrow {
    Arrow {
        from,
        failures: 0,
        event,
        to,
    }
}

/// The diagram, arrow by arrow.
fn arrows() -> Vec<Arrow> {
    let launched = || State::Starting {
        process: Some(process()),
    };
    let fresh = || State::Starting { process: None };
    let running = |healthy| State::Running {
        process: process(),
        healthy,
    };
    let stopping = |intent| State::Stopping {
        process: process(),
        intent,
    };
    let backoff_1s = || State::Backoff {
        delay: Duration::from_secs(1),
    };
    let mut arrows = vec![
        // disabled --> starting: enable
        arrow("disabled", Event::Enable, fresh()),
        // failed --> starting: enable, counters reset
        arrow("failed", Event::Enable, fresh()),
        // starting --> starting: launched (started or adopted)
        arrow("starting", launched_event(), launched()),
        // starting --> running: connected and lifecycle.ready
        arrow("starting, launched", Event::Ready, running(true)),
        // running --> running: a ping missed, answered again
        arrow("running", Event::PingMissed, running(false)),
        arrow("running, unhealthy", Event::PingAnswered, running(true)),
        // backoff --> starting: after the delay
        arrow("backoff", Event::Retry, fresh()),
        // backoff --> disabled: disable; backoff --> starting: new licence key
        arrow("backoff", Event::Stop(StopIntent::Disable), State::Disabled),
        arrow("backoff", Event::Stop(StopIntent::Restart), fresh()),
        // stopping --> disabled: stopped after disable
        arrow("stopping to disable", Event::Stopped, State::Disabled),
        // stopping --> starting: stopped after a new licence key
        arrow("stopping to restart", Event::Stopped, fresh()),
    ];
    // starting, running --> stopping: disable, new licence key, or a failure while alive
    for from in ["starting, launched", "running", "running, unhealthy"] {
        for intent in [
            StopIntent::Disable,
            StopIntent::Restart,
            StopIntent::Recover,
        ] {
            arrows.push(arrow(from, Event::Stop(intent), stopping(intent)));
        }
    }
    // starting, running, stopping after a failure --> failure choice --> backoff or failed
    for from in [
        "starting",
        "starting, launched",
        "running",
        "running, unhealthy",
        "stopping to recover",
    ] {
        arrows.push(arrow(from, crashed(), backoff_1s()));
        arrows.push(Arrow {
            from,
            failures: POLICY.max_failures - 1,
            event: crashed(),
            to: State::Failed,
        });
    }
    arrows
}

fn state(name: &str) -> State {
    states()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no state {name}"))
        .1
}

#[test]
fn every_arrow_of_the_diagram_is_taken() {
    for a in arrows() {
        let mut lifecycle = at(state(a.from), a.failures);
        let transition = lifecycle
            .apply(a.event.clone())
            .unwrap_or_else(|e| panic!("{} --{}-->: {e}", a.from, a.event.name()));
        assert_eq!(transition.to, a.to, "{} --{}-->", a.from, a.event.name());
        assert_eq!(transition.from, state(a.from).kind());
        assert_eq!(lifecycle.state(), &a.to);
    }
}

#[test]
fn every_event_without_an_arrow_is_refused_and_changes_nothing() {
    let arrows = arrows();
    let mut refused = 0;
    for (name, from) in states() {
        for event in events() {
            if arrows.iter().any(|a| a.from == name && a.event == event) {
                continue;
            }
            let mut lifecycle = at(from.clone(), 1);
            let before = lifecycle.clone();
            let result = lifecycle.apply(event.clone());
            assert_eq!(
                result,
                Err(IllegalTransition {
                    state: from.kind(),
                    event: event.name()
                }),
                "{name} --{}--> should be refused",
                event.name()
            );
            assert_eq!(lifecycle, before, "a refused event changed {name}");
            refused += 1;
        }
    }
    // 10 states × 11 events, less the 25 (state, event) pairs with an arrow.
    assert_eq!(refused, 10 * 11 - 25);
}

#[test]
fn failures_back_off_1_2_4_then_give_up_and_disable_with_the_reason() {
    let policy = RestartPolicy {
        max_failures: 6,
        ..POLICY
    };
    let mut lifecycle = Lifecycle::new(policy);
    lifecycle.apply(Event::Enable).unwrap();
    let mut delays = Vec::new();
    loop {
        match lifecycle.apply(crashed()).unwrap().to {
            State::Backoff { delay } => delays.push(delay.as_secs()),
            State::Failed => break,
            other => panic!("{other:?}"),
        }
        lifecycle.apply(Event::Retry).unwrap();
    }
    assert_eq!(delays, [1, 2, 4, 8, 16]);
    let status = lifecycle.status();
    assert!(!status.enabled);
    assert_eq!(status.restarts, 5);
    assert_eq!(status.consecutive_failures, 6);
    assert_eq!(
        status.last_error.as_deref(),
        Some("gave up after 6 consecutive failures; disabled. Last failure: exited with status 1")
    );
}

#[test]
fn a_stable_run_resets_the_failure_count_before_counting_its_end() {
    let mut lifecycle = at(
        State::Running {
            process: process(),
            healthy: true,
        },
        2,
    );
    let transition = lifecycle
        .apply(Event::Failed {
            reason: "killed by signal 9".to_owned(),
            stable: true,
            scheduled: None,
        })
        .unwrap();
    assert_eq!(
        transition.to,
        State::Backoff {
            delay: Duration::from_secs(1)
        }
    );
    assert_eq!(lifecycle.status().consecutive_failures, 1);
    assert_eq!(
        lifecycle.status().last_error.as_deref(),
        Some("killed by signal 9")
    );
}

#[test]
fn enabling_a_failed_plugin_resets_its_counters() {
    let mut lifecycle = at(State::Failed, 3);
    lifecycle.counters.restarts = 2;
    lifecycle.counters.last_error = Some("gave up".to_owned());
    lifecycle.apply(Event::Enable).unwrap();
    let status = lifecycle.status();
    assert_eq!(
        (
            status.restarts,
            status.consecutive_failures,
            status.last_error
        ),
        (0, 0, None)
    );
}

/// The status of every lifecycle reachable in a few events from a new one.
fn reachable_statuses(depth: usize) -> Vec<PluginStatus> {
    let mut seen = vec![Lifecycle::new(POLICY)];
    let mut frontier = seen.clone();
    for _ in 0..depth {
        let mut next = Vec::new();
        for lifecycle in &frontier {
            for event in events() {
                let mut moved = lifecycle.clone();
                if moved.apply(event).is_ok() && !seen.contains(&moved) {
                    seen.push(moved.clone());
                    next.push(moved);
                }
            }
        }
        frontier = next;
    }
    seen.iter().map(Lifecycle::status).collect()
}

#[test]
fn no_reachable_status_contradicts_itself() {
    let statuses = reachable_statuses(10);
    assert!(statuses.len() > 50, "walked {} states", statuses.len());
    for s in statuses {
        use PluginState as K;
        let process_state = matches!(s.state, K::Starting | K::Running | K::Stopping);
        assert!(process_state || s.pid.is_none(), "{s:?}");
        assert!(process_state || s.unit.is_none(), "{s:?}");
        assert!(!s.healthy || s.state == K::Running, "{s:?}");
        match s.state {
            K::Disabled | K::Failed => assert!(!s.enabled, "{s:?}"),
            K::Starting | K::Running | K::Backoff => assert!(s.enabled, "{s:?}"),
            K::Stopping => {}
        }
        assert_eq!(
            s.state == K::Failed,
            s.consecutive_failures >= POLICY.max_failures,
            "{s:?}"
        );
    }
}

#[test]
fn a_restart_the_backend_schedules_sets_the_backoff_and_give_up_stays_the_policys() {
    let mut lifecycle = at(State::Starting { process: None }, 0);
    lifecycle
        .apply(Event::Launched {
            process: process(),
            unseen_restarts: 2,
        })
        .unwrap();
    assert_eq!(
        lifecycle.status().restarts,
        2,
        "restarts made without the daemon count"
    );
    let scheduled = |secs| Event::Failed {
        reason: "killed by signal 9".to_owned(),
        stable: false,
        scheduled: Some(Duration::from_secs(secs)),
    };
    let transition = lifecycle.apply(scheduled(8)).unwrap();
    assert_eq!(
        transition.to,
        State::Backoff {
            delay: Duration::from_secs(8)
        },
        "systemd's delay, not the policy's first"
    );
    let mut lifecycle = at(State::Starting { process: None }, POLICY.max_failures - 1);
    assert_eq!(lifecycle.apply(scheduled(1)).unwrap().to, State::Failed);
}
