//! One task per enabled plugin: start it, connect, keep it healthy, restart it with backoff when
//! it fails, give up after too many failures in a row.
//!
//! The same loop runs over either backend, so both produce the same schedule: after the n-th
//! consecutive failure the next start waits `min(initial × 2ⁿ⁻¹, max)` — 1, 2, 4, 8, 16, 16… s
//! with the defaults. A run that lasted `stable_after` resets the count. systemd 252 has no
//! `RestartSteps=`, so units are created with `Restart=no` and this loop is the restart policy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use toru_plugin_api::Init;

use super::backend::{ExitInfo, LaunchSpec, RunningPlugin};
use super::connection::{Connection, ConnectionLimits};
use super::manager::{Shared, Slot};
use super::status::PluginState;
use crate::error_chain::ErrorChain;
use crate::store::EventKind;

/// The restart delay schedule.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 s doubling to 16 s.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(16),
        }
    }
}

impl Backoff {
    /// The delay before restarting after the `failures`-th consecutive failure (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

/// How one run of the plugin ended.
enum Outcome {
    /// Stopped on request (disable or daemon shutdown).
    Stopped,
    /// It failed; `stable` says whether it had run long enough to reset the failure count.
    Failed { reason: String, stable: bool },
}

/// Supervises one plugin until `stop` is cancelled or it gives up. `adopted` is a process found
/// running at daemon start, to reconnect to instead of starting a new one.
pub(crate) async fn supervise(
    shared: Arc<Shared>,
    slot: Arc<Slot>,
    stop: CancellationToken,
    mut adopted: Option<RunningPlugin>,
) {
    let id = slot.meta.id.clone();
    let mut failures = 0u32;
    loop {
        slot.update(|s| {
            s.state = PluginState::Starting;
            s.healthy = false;
        });
        match run_once(&shared, &slot, &stop, adopted.take()).await {
            Outcome::Stopped => {
                slot.set_connection(None);
                slot.update(|s| {
                    s.state = PluginState::Disabled;
                    s.healthy = false;
                    s.pid = None;
                });
                return;
            }
            Outcome::Failed { reason, stable } => {
                slot.set_connection(None);
                if stable {
                    failures = 0;
                }
                failures += 1;
                tracing::warn!(plugin = id, failures, reason, "plugin failed");
                shared.event(&id, EventKind::Crashed, &reason).await;
                slot.update(|s| {
                    s.state = PluginState::Backoff;
                    s.healthy = false;
                    s.pid = None;
                    s.consecutive_failures = failures;
                    s.last_error = Some(reason.clone());
                });
                if failures >= shared.settings.max_failures {
                    give_up(&shared, &slot, failures).await;
                    return;
                }
                let delay = shared.settings.backoff.delay(failures);
                let details = format!("restart {} in {delay:?}", failures);
                tracing::info!(plugin = id, ?delay, "restarting plugin after backoff");
                shared.event(&id, EventKind::Restarting, &details).await;
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.cancelled() => {
                        slot.update(|s| s.state = PluginState::Disabled);
                        return;
                    }
                }
                slot.update(|s| s.restarts += 1);
            }
        }
    }
}

async fn give_up(shared: &Shared, slot: &Slot, failures: u32) {
    let id = &slot.meta.id;
    let details = format!("gave up after {failures} consecutive failures; disabled");
    tracing::error!(plugin = id, failures, "giving up on plugin; disabling it");
    shared.event(id, EventKind::GaveUp, &details).await;
    if let Err(e) = shared.persist_enabled(id, false).await {
        tracing::error!(plugin = id, error = %e, "cannot record that the plugin is disabled");
    }
    slot.update(|s| {
        s.enabled = false;
        s.state = PluginState::Failed;
        s.last_error = Some(details.clone());
    });
}

/// Starts (or adopts), connects, initialises, then waits for the run to end.
async fn run_once(
    shared: &Shared,
    slot: &Slot,
    stop: &CancellationToken,
    adopted: Option<RunningPlugin>,
) -> Outcome {
    let id = &slot.meta.id;
    let settings = &shared.settings;
    let socket = shared.backend.socket_path(id);
    let was_adopted = adopted.is_some();
    let mut running = match adopted {
        Some(running) => running,
        None => {
            let spec = LaunchSpec {
                plugin_id: id.clone(),
                binary: slot.binary.clone(),
                socket: socket.clone(),
                limits: settings.limits,
                permissions: slot.meta.permissions.clone(),
            };
            match shared.backend.start(&spec).await {
                Ok(running) => running,
                Err(e) => {
                    return Outcome::Failed {
                        reason: ErrorChain(&e).to_string(),
                        stable: false,
                    };
                }
            }
        }
    };
    slot.update(|s| {
        s.pid = running.pid;
        s.unit = running.unit.clone();
    });

    let connect = async {
        let conn = Connection::connect(
            id,
            &socket,
            settings.start_timeout,
            shared.store.clone(),
            ConnectionLimits {
                max_frame: settings.max_frame,
                ..ConnectionLimits::default()
            },
        )
        .await?;
        let init = Init {
            protocol_version: toru_plugin_api::PROTOCOL_VERSION,
            plugin_id: id.clone(),
            instance_id: shared.instance_id.clone(),
            config: Default::default(),
            license: slot.license_key(),
        };
        let ready = conn.init(init, settings.start_timeout).await?;
        slot.set_license_report(ready.license);
        Ok::<_, super::connection::ConnectionError>(conn)
    };
    let conn = tokio::select! {
        conn = connect => conn,
        exit = &mut running.exited => {
            return Outcome::Failed { reason: format!("{} during start", exit_text(exit)), stable: false };
        }
        _ = stop.cancelled() => {
            stop_process(shared, slot, None, running).await;
            return Outcome::Stopped;
        }
    };
    let conn = match conn {
        Ok(conn) => conn,
        Err(e) => {
            stop_process(shared, slot, None, running).await;
            return Outcome::Failed {
                reason: ErrorChain(&e).to_string(),
                stable: false,
            };
        }
    };

    slot.set_connection(Some(conn.clone()));
    slot.update(|s| {
        s.state = PluginState::Running;
        s.healthy = true;
    });
    let (kind, details) = if was_adopted {
        (EventKind::Adopted, "reconnected to the running plugin")
    } else {
        (EventKind::Started, "started and initialised")
    };
    tracing::info!(plugin = id, pid = ?running.pid, adopted = was_adopted, "plugin running");
    shared.event(id, kind, details).await;
    let started = Instant::now();

    let reason = tokio::select! {
        exit = &mut running.exited => exit_text(exit),
        _ = conn.closed() => {
            // The process is probably exiting; give it a moment to be reaped so the event says
            // how it ended, then make sure it is gone.
            match tokio::time::timeout(Duration::from_secs(2), &mut running.exited).await {
                Ok(exit) => exit_text(exit),
                Err(_) => {
                    stop_process(shared, slot, None, running).await;
                    "closed its connection".to_owned()
                }
            }
        }
        reason = watch_health(shared, slot, &conn) => {
            stop_process(shared, slot, None, running).await;
            reason
        }
        _ = stop.cancelled() => {
            if shared.leaves_plugins_running() {
                // Daemon shutdown under systemd: the unit keeps running and is adopted by the
                // next daemon; only the connection goes.
                conn.close();
            } else {
                stop_process(shared, slot, Some(&conn), running).await;
            }
            return Outcome::Stopped;
        }
    };
    conn.close();
    Outcome::Failed {
        reason,
        stable: started.elapsed() >= settings.stable_after,
    }
}

/// Returns when the plugin has missed too many pings in a row; marks it unhealthy meanwhile.
async fn watch_health(shared: &Shared, slot: &Slot, conn: &Connection) -> String {
    let settings = &shared.settings;
    let mut ticks = tokio::time::interval(settings.ping_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; the plugin just answered init
    let mut missed = 0u32;
    loop {
        ticks.tick().await;
        match conn.ping(settings.ping_timeout).await {
            Ok(_) if missed > 0 => {
                missed = 0;
                slot.update(|s| s.healthy = true);
                shared
                    .event(&slot.meta.id, EventKind::Healthy, "answers pings again")
                    .await;
            }
            Ok(_) => {}
            Err(e) => {
                missed += 1;
                if missed == 1 {
                    slot.update(|s| s.healthy = false);
                    shared
                        .event(&slot.meta.id, EventKind::Unhealthy, &e.to_string())
                        .await;
                }
                if missed >= settings.max_missed_pings {
                    return format!("stopped answering pings ({missed} missed in a row)");
                }
            }
        }
    }
}

/// Stops the process: a polite `lifecycle.shutdown` first when connected, then the backend's
/// SIGTERM and SIGKILL.
async fn stop_process(
    shared: &Shared,
    slot: &Slot,
    conn: Option<&Connection>,
    mut running: RunningPlugin,
) {
    let id = &slot.meta.id;
    slot.update(|s| s.state = PluginState::Stopping);
    let grace = shared.settings.stop_grace;
    if let Some(conn) = conn {
        // Never waits for room: a plugin that does not read gets no grace, only SIGTERM.
        if conn.shutdown() {
            let _ = tokio::time::timeout(grace, &mut running.exited).await;
        }
        conn.close();
    }
    if let Err(e) = shared.backend.stop(id, grace).await {
        tracing::error!(plugin = id, error = %ErrorChain(&e), "cannot stop plugin");
    }
    shared.event(id, EventKind::Stopped, "stopped").await;
}

fn exit_text(exit: Result<ExitInfo, tokio::sync::oneshot::error::RecvError>) -> String {
    match exit {
        Ok(info) => info.to_string(),
        Err(_) => "ended (the backend lost track of it)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_1_2_4_8_16_then_capped() {
        let b = Backoff::default();
        let secs: Vec<u64> = (1..=8).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 16, 16, 16]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(16), "no overflow");
    }
}
