//! The embedded backend: plugins as child processes of the daemon, for machines and containers
//! without systemd and for a developer's first run.
//!
//! Each child gets its own process group (a Ctrl-C meant for the daemon does not hit it), its
//! stdout and stderr go to a size-rotated JSON-lines file per plugin, and a pid file records it
//! so that a daemon restarted after `kill -9` can find and stop a child it lost. Unlike systemd
//! units, children are not adopted: a non-child cannot be waited for, so a leftover is stopped
//! and started again.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::AsyncRead;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::{Decoder, FramedRead, LinesCodec, LinesCodecError};

use super::{BackendError, BackendKind, ExitInfo, LaunchSpec, RunningPlugin, SupervisorBackend};
use crate::logs::entry::{LogEntry, split_priority};
use crate::logs::file_writer::{RotatingWriter, Rotation};

/// Where the embedded backend keeps its files.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// Sockets and pid files go to `<runtime_dir>/plugins/`.
    pub runtime_dir: PathBuf,
    /// Log files go to `<log_dir>/plugins/`.
    pub log_dir: PathBuf,
    /// Log rotation.
    pub rotation: Rotation,
}

/// Runs plugins as child processes.
pub struct EmbeddedBackend {
    config: EmbeddedConfig,
    /// Shared with each child's reaper task, which removes the child once it has ended.
    children: Arc<Mutex<HashMap<String, Child>>>,
}

/// What the backend keeps about a running child.
struct Child {
    pid: u32,
    /// Becomes `true` once the child has been reaped.
    done: watch::Receiver<bool>,
}

/// The longest log line kept; longer ones are replaced by a note, so a plugin cannot make the
/// daemon buffer without bound.
const MAX_LOG_LINE: usize = 16 * 1024;

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

    fn pid_file(&self, plugin_id: &str) -> PathBuf {
        self.plugin_dir().join(format!("{plugin_id}.pid"))
    }

    fn children(&self) -> std::sync::MutexGuard<'_, HashMap<String, Child>> {
        lock(&self.children)
    }

    /// The pid recorded for a plugin by this or a previous daemon, if that process still runs
    /// the plugin (its command line names the plugin's socket, so a recycled pid is not taken
    /// for it).
    fn leftover_pid(&self, plugin_id: &str) -> Option<u32> {
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

    /// Stops a process that is not our child: SIGTERM, wait, SIGKILL.
    async fn stop_leftover(&self, plugin_id: &str, pid: u32, grace: Duration) {
        tracing::info!(
            plugin = plugin_id,
            pid,
            "stopping a plugin process left by a previous daemon"
        );
        let target = Pid::from_raw(pid as i32);
        let _ = kill(target, Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline && self.leftover_pid(plugin_id).is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if self.leftover_pid(plugin_id).is_some() {
            let _ = kill(target, Signal::SIGKILL);
        }
        let _ = std::fs::remove_file(self.pid_file(plugin_id));
    }
}

#[async_trait::async_trait]
impl SupervisorBackend for EmbeddedBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Embedded
    }

    fn socket_path(&self, plugin_id: &str) -> PathBuf {
        self.plugin_dir().join(format!("{plugin_id}.sock"))
    }

    async fn start(&self, spec: &LaunchSpec) -> Result<RunningPlugin, BackendError> {
        let id = spec.plugin_id.as_str();
        let fail = |reason: String| BackendError::Start {
            plugin_id: id.to_owned(),
            reason,
        };
        if self.children().contains_key(id) {
            return Err(fail("it is already running".into()));
        }
        std::fs::create_dir_all(self.plugin_dir()).map_err(|e| {
            fail(format!(
                "cannot create {}: {e}",
                self.plugin_dir().display()
            ))
        })?;
        let mut child = Command::new(&spec.binary)
            .arg("--socket")
            .arg(&spec.socket)
            .env("TORU_PLUGIN_ID", id)
            .env("TORU_PLUGIN_SOCKET", &spec.socket)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| fail(format!("cannot execute {}: {e}", spec.binary.display())))?;
        let pid = child
            .id()
            .ok_or_else(|| fail("exited before it could be tracked".into()))?;
        if let Err(e) = std::fs::write(self.pid_file(id), format!("{pid}\n")) {
            tracing::warn!(plugin = id, error = %e, "cannot write pid file");
        }

        let logs = spawn_log_writer(
            self.config.log_dir.join("plugins"),
            id.to_owned(),
            self.config.rotation,
        );
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let readers = [
            tokio::spawn(forward_lines(stdout, "stdout", pid, logs.clone())),
            tokio::spawn(forward_lines(stderr, "stderr", pid, logs)),
        ];

        let (exited_tx, exited_rx) = oneshot::channel();
        let (done_tx, done_rx) = watch::channel(false);
        self.children()
            .insert(id.to_owned(), Child { pid, done: done_rx });
        let pid_file = self.pid_file(id);
        let plugin_id = id.to_owned();
        let children = self.children.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            // Drain the output so the last lines (often the reason for a crash) are logged.
            for reader in readers {
                let _ = reader.await;
            }
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
            tracing::debug!(plugin = plugin_id, %info, "plugin process ended");
            let _ = exited_tx.send(info);
            let _ = done_tx.send(true);
        });
        Ok(RunningPlugin {
            pid: Some(pid),
            unit: None,
            exited: exited_rx,
        })
    }

    async fn adopt(&self, plugin_id: &str) -> Result<Option<RunningPlugin>, BackendError> {
        // A child of a previous daemon cannot be waited for, so it is stopped, not adopted.
        if let Some(pid) = self.leftover_pid(plugin_id)
            && !self.children().contains_key(plugin_id)
        {
            self.stop_leftover(plugin_id, pid, Duration::from_secs(5))
                .await;
        }
        Ok(None)
    }

    async fn stop(&self, plugin_id: &str, grace: Duration) -> Result<(), BackendError> {
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
        // The whole process group, so helpers the plugin spawned go too.
        let group = Pid::from_raw(-(pid as i32));
        let _ = kill(group, Signal::SIGTERM);
        let mut reaped = async move || {
            // The guard `wait_for` returns must not live across the next await.
            let _ = done.wait_for(|d| *d).await.map(|_| ());
        };
        if tokio::time::timeout(grace, reaped()).await.is_err() {
            tracing::warn!(
                plugin = plugin_id,
                pid,
                "plugin ignored SIGTERM; sending SIGKILL"
            );
            let _ = kill(group, Signal::SIGKILL);
            let _ = tokio::time::timeout(Duration::from_secs(5), reaped()).await;
        }
        Ok(())
    }

    async fn list_running(&self) -> Result<Vec<String>, BackendError> {
        let mut ids: Vec<String> = self.children().keys().cloned().collect();
        // Leftovers of a previous daemon, found by their pid files.
        if let Ok(dir) = std::fs::read_dir(self.plugin_dir()) {
            for entry in dir.flatten() {
                let name = entry.file_name();
                let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".pid")) else {
                    continue;
                };
                if toru_plugin_api::validate_plugin_id(id).is_ok()
                    && !ids.iter().any(|known| known == id)
                    && self.leftover_pid(id).is_some()
                {
                    ids.push(id.to_owned());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// Locks the children map, ignoring poisoning: every critical section is one insert, lookup or
/// remove, so the map is consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One captured output line, before it becomes a [`LogEntry`].
struct Line {
    at: SystemTime,
    stream: &'static str,
    pid: u32,
    text: String,
}

/// Lines of output, splitting lines longer than [`MAX_LOG_LINE`] into a note instead of
/// buffering them.
struct OutputLines(LinesCodec);

impl Decoder for OutputLines {
    type Item = String;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut bytes::BytesMut) -> Result<Option<String>, std::io::Error> {
        map_line(self.0.decode(buf))
    }

    fn decode_eof(&mut self, buf: &mut bytes::BytesMut) -> Result<Option<String>, std::io::Error> {
        map_line(self.0.decode_eof(buf))
    }
}

fn map_line(r: Result<Option<String>, LinesCodecError>) -> Result<Option<String>, std::io::Error> {
    match r {
        Ok(line) => Ok(line),
        Err(LinesCodecError::MaxLineLengthExceeded) => Ok(Some(format!(
            "<4>[toru: a line longer than {MAX_LOG_LINE} bytes was dropped]"
        ))),
        // Invalid UTF-8: the line is already consumed; note it and keep reading.
        Err(LinesCodecError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => Ok(Some(
            "<4>[toru: a line that was not UTF-8 was dropped]".into(),
        )),
        Err(LinesCodecError::Io(e)) => Err(e),
    }
}

async fn forward_lines(
    output: impl AsyncRead + Unpin,
    stream: &'static str,
    pid: u32,
    sink: mpsc::Sender<Line>,
) {
    let mut lines = FramedRead::new(
        output,
        OutputLines(LinesCodec::new_with_max_length(MAX_LOG_LINE)),
    );
    while let Some(Ok(text)) = lines.next().await {
        let line = Line {
            at: SystemTime::now(),
            stream,
            pid,
            text,
        };
        // A full queue makes the plugin wait on its pipe: backpressure, not unbounded memory.
        if sink.send(line).await.is_err() {
            return;
        }
    }
}

/// Writes a plugin's lines to its rotating file in batches, off the async runtime.
fn spawn_log_writer(dir: PathBuf, plugin_id: String, rotation: Rotation) -> mpsc::Sender<Line> {
    let (tx, mut rx) = mpsc::channel::<Line>(1024);
    tokio::spawn(async move {
        let writer = Arc::new(Mutex::new(RotatingWriter::new(&dir, &plugin_id, rotation)));
        let mut batch = Vec::with_capacity(64);
        while rx.recv_many(&mut batch, 256).await > 0 {
            let entries: Vec<LogEntry> = batch.drain(..).map(|l| to_entry(&plugin_id, l)).collect();
            let writer = writer.clone();
            let result = tokio::task::spawn_blocking(move || {
                let mut writer = lock(&writer);
                entries.iter().try_for_each(|e| writer.write(e))
            })
            .await;
            if let Ok(Err(e)) = result {
                tracing::warn!(plugin = plugin_id, dir = %dir.display(), error = %e, "cannot write plugin log");
            }
        }
    });
    tx
}

fn to_entry(plugin_id: &str, line: Line) -> LogEntry {
    let (level, message) = split_priority(&line.text);
    let mut fields = serde_json::Map::new();
    fields.insert("stream".into(), line.stream.into());
    fields.insert("pid".into(), line.pid.into());
    LogEntry {
        timestamp: humantime::format_rfc3339_millis(line.at).to_string(),
        level,
        plugin: plugin_id.to_owned(),
        message: message.to_owned(),
        fields,
    }
}

/// The directory the embedded backend's log files for plugins live in.
pub fn plugin_log_dir(log_dir: &Path) -> PathBuf {
    log_dir.join("plugins")
}
