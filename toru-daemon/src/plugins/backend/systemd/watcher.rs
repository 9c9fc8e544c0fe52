//! The watcher: one task per running unit that turns the unit's `PropertiesChanged` signals
//! into the one [`ExitInfo`] the supervisor waits for. Nothing polls.

use futures::StreamExt;
use tokio::sync::oneshot;
use toru_plugin_api::PluginId;
use zbus::{Connection, Variant};

use super::dbus::{SERVICE_INTERFACE, UNIT_INTERFACE, service_proxy};
use super::unit_state::{ActiveState, ExecMain};
use crate::plugins::backend::ExitInfo;

/// Follows one unit until it ends, then reports how its main process ended.
pub struct Watcher {
    /// The plugin, for the log.
    pub plugin_id: PluginId,
    /// The backend's connection, to read the exit status when the signals lacked it.
    pub conn: Connection,
    /// The unit's object path.
    pub path: String,
    /// Whether an end state counts. A started unit's stream can first carry the `inactive` of
    /// the unit being created or of a failed predecessor just reset; only after the unit was
    /// seen running does `inactive`/`failed` mean this run ended. Adopted units start armed.
    pub armed: bool,
    /// The last `ExecMainCode`/`ExecMainStatus` seen in the unit's signals.
    pub exec_main: ExecMain,
    /// The last service `Result` seen in the unit's signals (`oom-kill` tells an OOM kill from
    /// any other SIGKILL).
    pub result: Option<String>,
}

/// The service `Result` of a unit whose process the kernel's OOM killer ended.
const OOM_KILL: &str = "oom-kill";

/// systemd's "no value" for a `t` figure or limit.
pub(super) fn figure(value: u64) -> Option<u64> {
    (value != u64::MAX).then_some(value)
}

impl Watcher {
    /// Reads `changes` until the unit ends (then sends its exit) or `tx`'s receiver is dropped
    /// (then just returns). Either way the task, its stream and match rule end with it.
    pub async fn run(
        mut self,
        mut changes: zbus::fdo::PropertiesChangedStream,
        mut tx: oneshot::Sender<ExitInfo>,
    ) {
        let exit = loop {
            let signal = tokio::select! {
                // The supervisor dropped the receiver: nobody waits for this unit any more.
                () = tx.closed() => return,
                signal = changes.next() => signal,
            };
            let Some(signal) = signal else {
                break ExitInfo::Unknown("lost the D-Bus connection to systemd".to_owned());
            };
            let Ok(args) = signal.args() else { continue };
            let changed = args.changed_properties();
            match args.interface_name().as_str() {
                // systemd sends the Service interface's changes before the Unit's for the same
                // transition, so the exit status is known when ActiveState arrives.
                SERVICE_INTERFACE => {
                    if let Some(Variant::I32(code)) = changed.get("ExecMainCode") {
                        self.exec_main.code = Some(*code);
                    }
                    if let Some(Variant::I32(status)) = changed.get("ExecMainStatus") {
                        self.exec_main.status = Some(*status);
                    }
                    if let Some(Variant::Str(result)) = changed.get("Result") {
                        self.result = Some(result.as_str().to_owned());
                    }
                }
                UNIT_INTERFACE => {
                    let Some(Variant::Str(state)) = changed.get("ActiveState") else {
                        continue;
                    };
                    let state = ActiveState::from(state.as_str());
                    if state.is_running() {
                        if !self.armed {
                            // Anything seen before belongs to an earlier run.
                            self.exec_main = ExecMain::default();
                            self.result = None;
                            self.armed = true;
                        }
                    } else if self.armed && state.has_ended() {
                        break self.exit_info().await;
                    }
                }
                _ => {}
            }
        };
        tracing::debug!(plugin = self.plugin_id.as_str(), %exit, "plugin unit ended");
        // The receiver may be gone by now; then nobody needs the answer.
        let _ = tx.send(exit);
    }

    /// How the main process ended: from the signals, else read from the unit while it is still
    /// loaded (a failed unit stays loaded; a cleanly ended one may already be collected).
    async fn exit_info(&self) -> ExitInfo {
        if let Some(limit) = self.oom_killed().await {
            return ExitInfo::OutOfMemory { limit };
        }
        if let Some(exit) = self.exec_main.exit_info() {
            return exit;
        }
        let read = async {
            let service = service_proxy(&self.conn, &self.path).await?;
            Ok::<_, zbus::Error>(ExecMain {
                code: Some(service.exec_main_code().await?),
                status: Some(service.exec_main_status().await?),
            })
        };
        match read.await {
            Ok(exec_main) => exec_main.exit_info().unwrap_or_else(|| {
                ExitInfo::Unknown("the unit ended without an exit status".to_owned())
            }),
            Err(e) => ExitInfo::Unknown(format!("cannot read the exit status: {e}")),
        }
    }

    /// `Some(memory limit)` when the OOM killer ended the run: from the signals, else read from
    /// the unit, which a failed run leaves loaded. A unit already collected ended cleanly.
    async fn oom_killed(&self) -> Option<Option<u64>> {
        let service = service_proxy(&self.conn, &self.path).await.ok();
        let result = match &self.result {
            Some(result) => result.clone(),
            None => service.as_ref()?.result().await.ok()?,
        };
        if result != OOM_KILL {
            return None;
        }
        let limit = match &service {
            Some(service) => service.memory_max().await.ok().and_then(figure),
            None => None,
        };
        Some(limit)
    }
}
