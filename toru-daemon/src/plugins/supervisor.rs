//! One task per enabled plugin: start it, connect, keep it healthy, restart it with backoff when
//! it fails, give up after too many failures in a row.
//!
//! The supervisor does the work and reports what happened to the plugin's
//! [`Lifecycle`](super::lifecycle::Lifecycle) as events; the lifecycle decides the state, the
//! backoff delay and the give-up. The same loop runs over either backend, so both produce the
//! same schedule and the same events. On systemd ≥ 254 systemd restarts a crashed unit itself
//! (so it also comes back while the daemon is away); the backend then tells the delay it chose
//! ([`SupervisorBackend::scheduled_restart`]), this loop waits it and the backend's `start`
//! follows systemd's restart instead of starting another. On systemd 252 (no `RestartSteps=`)
//! and under the embedded backend, this loop restarts the plugin itself. It needs only a
//! [`SupervisorContext`] and its [`Slot`], not the manager, so it can be tested against a fake
//! backend.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use toru_plugin_api::Init;

use super::backend::{BackendKind, ExitInfo, LaunchSpec, RunningPlugin, SupervisorBackend};
use super::connection::{Connection, ConnectionError, ConnectionLimits};
use super::enabled::EnabledConfig;
use super::lifecycle::{Event, Process, State, StopIntent};
use super::settings::Settings;
use super::slot::{Slot, StopSignal};
use super::trust;
use crate::error_chain::ErrorChain;
use crate::store::{EventKind, NewEvent, Store};

/// What every supervisor needs besides its own slot.
pub(crate) struct SupervisorContext {
    /// Timeouts, limits and the restart policy.
    pub(crate) settings: Settings,
    /// Runs the processes.
    pub(crate) backend: Arc<dyn SupervisorBackend>,
    /// Where events are recorded and the plugin's KV requests are answered from.
    pub(crate) store: Store,
    /// Sent in `lifecycle.init`.
    pub(crate) instance_id: String,
    /// Where giving up records the plugin as disabled.
    pub(crate) enabled: EnabledConfig,
}

impl SupervisorContext {
    /// Records what happened to a plugin on the daemon's own account (no actor).
    pub(crate) async fn event(&self, plugin_id: &str, kind: EventKind, details: &str) {
        self.record(NewEvent::plugin(plugin_id, kind, details))
            .await;
    }

    /// Records an event; see [`Store::record_event_or_log`].
    pub(crate) async fn record(&self, event: NewEvent<'_>) {
        self.store.record_event_or_log(event).await;
    }
}

/// How one run of the plugin ended.
enum Outcome {
    /// Stopped on request (disable, a new licence key, or daemon shutdown).
    Stopped,
    /// It failed; `stable` says whether it had run long enough to reset the failure count.
    Failed { reason: String, stable: bool },
}

/// Supervises one plugin until `stop` is raised or it gives up. The plugin's lifecycle is
/// `starting` when this begins (the manager sent `Enable`). `adopted` is a process found
/// running at daemon start, to reconnect to instead of starting a new one.
pub(crate) async fn supervise(
    ctx: Arc<SupervisorContext>,
    slot: Arc<Slot>,
    stop: StopSignal,
    mut adopted: Option<RunningPlugin>,
) {
    let id = slot.id.clone();
    loop {
        let (reason, stable) = match run_once(&ctx, &slot, &stop, adopted.take()).await {
            Outcome::Stopped => return,
            Outcome::Failed { reason, stable } => (reason, stable),
        };
        slot.set_connection(None);
        let scheduled = ctx.backend.scheduled_restart(&id).await;
        let failed = Event::Failed {
            reason: reason.clone(),
            stable,
            scheduled,
        };
        // The lifecycle decides between backing off and giving up; a give-up is recorded and
        // made durable before any client can see `failed`.
        let next = match slot.preview(failed.clone()) {
            Ok(next) => next,
            Err(_) => {
                slot.send(failed); // reports the bug
                return;
            }
        };
        let next_status = next.status();
        let failures = next_status.consecutive_failures;
        tracing::warn!(plugin = id.as_str(), failures, reason, "plugin failed");
        ctx.event(id.as_str(), EventKind::Crashed, &reason).await;
        let State::Backoff { delay } = *next.state() else {
            let details = next_status.last_error.unwrap_or_default();
            if scheduled.is_some() {
                cancel_scheduled_restart(&ctx, &slot).await;
            }
            give_up(&ctx, &slot, failures, &details).await;
            slot.send(failed);
            return;
        };
        slot.send(failed);
        let details = format!("restart {failures} in {delay:?}");
        tracing::info!(
            plugin = id.as_str(),
            ?delay,
            "restarting plugin after backoff"
        );
        ctx.event(id.as_str(), EventKind::Restarting, &details)
            .await;
        tokio::select! {
            () = tokio::time::sleep(delay) => {
                slot.send(Event::Retry);
            }
            () = stop.raised() => {
                // Nothing runs: disabling or restarting needs no stop, only the transition, and
                // the cancelling of a restart systemd scheduled. On the daemon's shutdown that
                // restart stands, and the next daemon adopts what it brings up.
                if let Some(intent) = stop.intent() {
                    if scheduled.is_some() {
                        cancel_scheduled_restart(&ctx, &slot).await;
                    }
                    slot.send(Event::Stop(intent));
                }
                return;
            }
        }
    }
}

/// Stops the unit whose restart the backend scheduled, so the restart does not happen.
async fn cancel_scheduled_restart(ctx: &SupervisorContext, slot: &Slot) {
    let id = &slot.id;
    if let Err(e) = ctx.backend.stop(id, ctx.settings.stop_grace).await {
        tracing::error!(plugin = id.as_str(), error = %ErrorChain(&e), "cannot cancel the restart systemd scheduled");
    }
}

/// Records the give-up and disables the plugin durably, so it stays stopped after a daemon
/// restart; the caller then moves the lifecycle to `failed`.
async fn give_up(ctx: &SupervisorContext, slot: &Slot, failures: u32, details: &str) {
    let id = &slot.id;
    tracing::error!(
        plugin = id.as_str(),
        failures,
        "giving up on plugin; disabling it"
    );
    ctx.event(id.as_str(), EventKind::GaveUp, details).await;
    if let Err(e) = ctx.enabled.persist(id.as_str(), false).await {
        tracing::error!(plugin = id.as_str(), error = %e, "cannot record that the plugin is disabled");
    }
}

/// Why a plugin is not started while a required setting has no value.
pub(crate) fn missing_setting_reason(name: &str) -> String {
    format!("the required setting {name:?} has no value (toructl plugin config set ID {name}=...)")
}

/// Starts (or adopts), connects, initialises, then waits for the run to end.
async fn run_once(
    ctx: &SupervisorContext,
    slot: &Slot,
    stop: &StopSignal,
    adopted: Option<RunningPlugin>,
) -> Outcome {
    let id = &slot.id;
    let settings = &ctx.settings;
    let socket = ctx.backend.socket_path(id);
    let was_adopted = adopted.is_some();
    let mut running = match adopted {
        Some(running) => running,
        None => {
            // Every start checks the binary again (`trust`): under `enforce` it must still be
            // the one verified, and what runs is the verified copy.
            let verified =
                match trust::check_before_start(&slot.binary, &slot.verified(), &settings.trust)
                    .await
                {
                    Ok(verified) => verified,
                    Err(reason) => {
                        tracing::error!(plugin = id.as_str(), reason, "plugin refused at start");
                        ctx.event(id.as_str(), EventKind::SignatureRefused, &reason)
                            .await;
                        return Outcome::Failed {
                            reason,
                            stable: false,
                        };
                    }
                };
            let run_from = verified.run_from.clone();
            slot.set_verified(verified);
            if let Some(name) = slot.missing_required_setting() {
                return Outcome::Failed {
                    reason: missing_setting_reason(&name),
                    stable: false,
                };
            }
            let spec = LaunchSpec {
                plugin_id: id.clone(),
                binary: run_from,
                socket: socket.clone(),
                limits: slot.effective_limits(settings.limits),
                permissions: slot.meta().permissions,
            };
            match ctx.backend.start(&spec).await {
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
    slot.launched();
    slot.send(Event::Launched {
        process: Process {
            pid: running.pid,
            unit: running.unit.clone(),
        },
        unseen_restarts: running.unseen_restarts,
    });

    let connect = async {
        let conn = Connection::connect(
            id,
            &socket,
            settings.start_timeout,
            ctx.store.clone(),
            ConnectionLimits {
                max_frame: settings.max_frame,
                ..ConnectionLimits::default()
            },
            slot.metrics.clone(),
        )
        .await?;
        let init = Init {
            protocol_version: toru_plugin_api::PROTOCOL_VERSION,
            plugin_id: id.to_string(),
            instance_id: ctx.instance_id.clone(),
            config: slot.init_config(),
            license: slot.license_key(),
        };
        let ready = conn.init(init, settings.start_timeout).await?;
        slot.set_license_report(ready.license);
        Ok::<_, ConnectionError>(conn)
    };
    let conn = tokio::select! {
        conn = connect => conn,
        exit = &mut running.exited => {
            return Outcome::Failed { reason: format!("{} during start", exit_text(exit)), stable: false };
        }
        () = stop.raised() => {
            stop_on_request(ctx, slot, stop, None, running).await;
            return Outcome::Stopped;
        }
    };
    let conn = match conn {
        Ok(conn) => conn,
        Err(e) => {
            stop_to_recover(ctx, slot, running).await;
            return Outcome::Failed {
                reason: ErrorChain(&e).to_string(),
                stable: false,
            };
        }
    };

    slot.set_connection(Some(conn.clone()));
    slot.send(Event::Ready);
    let (kind, details) = if was_adopted {
        (EventKind::Adopted, "reconnected to the running plugin")
    } else {
        (EventKind::Started, "started and initialised")
    };
    tracing::info!(plugin = id.as_str(), pid = ?running.pid, adopted = was_adopted, "plugin running");
    ctx.event(id.as_str(), kind, details).await;
    let started = Instant::now();

    let reason = tokio::select! {
        exit = &mut running.exited => exit_text(exit),
        () = conn.closed() => {
            // The process is probably exiting; give it a moment to be reaped so the event says
            // how it ended, then make sure it is gone.
            match tokio::time::timeout(Duration::from_secs(2), &mut running.exited).await {
                Ok(exit) => exit_text(exit),
                Err(_) => {
                    stop_to_recover(ctx, slot, running).await;
                    "closed its connection".to_owned()
                }
            }
        }
        reason = watch_health(ctx, slot, &conn) => {
            stop_to_recover(ctx, slot, running).await;
            reason
        }
        () = stop.raised() => {
            stop_on_request(ctx, slot, stop, Some(&conn), running).await;
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
async fn watch_health(ctx: &SupervisorContext, slot: &Slot, conn: &Connection) -> String {
    let settings = &ctx.settings;
    let mut ticks = tokio::time::interval(settings.ping_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; the plugin just answered init
    let mut missed = 0u32;
    loop {
        ticks.tick().await;
        match conn.ping(settings.ping_timeout).await {
            Ok(_) if missed > 0 => {
                missed = 0;
                slot.send(Event::PingAnswered);
                ctx.event(slot.id.as_str(), EventKind::Healthy, "answers pings again")
                    .await;
            }
            Ok(_) => {}
            Err(e) => {
                missed += 1;
                if missed == 1 {
                    slot.send(Event::PingMissed);
                    ctx.event(slot.id.as_str(), EventKind::Unhealthy, &e.to_string())
                        .await;
                }
                if missed >= settings.max_missed_pings {
                    return format!("stopped answering pings ({missed} missed in a row)");
                }
            }
        }
    }
}

/// Stops the process of a plugin that failed while alive; the caller then reports the failure.
async fn stop_to_recover(ctx: &SupervisorContext, slot: &Slot, running: RunningPlugin) {
    slot.send(Event::Stop(StopIntent::Recover));
    terminate(ctx, slot, None, running).await;
}

/// Stops the process because `stop` was raised. On the daemon's shutdown there is no
/// transition (the status is the daemon's last word on a plugin it no longer watches), and a
/// connected systemd unit is left running for the next daemon to adopt.
async fn stop_on_request(
    ctx: &SupervisorContext,
    slot: &Slot,
    stop: &StopSignal,
    conn: Option<&Connection>,
    running: RunningPlugin,
) {
    match stop.intent() {
        Some(intent) => {
            slot.send(Event::Stop(intent));
            terminate(ctx, slot, conn, running).await;
            slot.set_connection(None);
            slot.send(Event::Stopped);
        }
        None => match conn {
            Some(conn) if ctx.backend.kind() == BackendKind::Systemd => conn.close(),
            conn => terminate(ctx, slot, conn, running).await,
        },
    }
}

/// Ends the process: a polite `lifecycle.shutdown` first when connected, then the backend's
/// SIGTERM and SIGKILL.
async fn terminate(
    ctx: &SupervisorContext,
    slot: &Slot,
    conn: Option<&Connection>,
    mut running: RunningPlugin,
) {
    let id = &slot.id;
    let grace = ctx.settings.stop_grace;
    if let Some(conn) = conn {
        // Never waits for room: a plugin that does not read gets no grace, only SIGTERM.
        if conn.shutdown() {
            let _ = tokio::time::timeout(grace, &mut running.exited).await;
        }
        conn.close();
    }
    if let Err(e) = ctx.backend.stop(id, grace).await {
        tracing::error!(plugin = id.as_str(), error = %ErrorChain(&e), "cannot stop plugin");
    }
    ctx.event(id.as_str(), EventKind::Stopped, "stopped").await;
}

fn exit_text(exit: Result<ExitInfo, tokio::sync::oneshot::error::RecvError>) -> String {
    match exit {
        Ok(info) => info.to_string(),
        Err(_) => "ended (the backend lost track of it)".to_owned(),
    }
}

#[cfg(test)]
#[path = "supervisor_tests.rs"]
mod tests;
