//! The embedded backend's log relay: one small process per plugin that owns the read ends of the
//! plugin's stdout and stderr pipes and writes each line to the plugin's rotating JSON-lines file.
//!
//! It is `toru-daemon` itself, run as `toru-daemon --log-relay …` ([`RelayArgs`]). Because the
//! relay, not the daemon, reads the pipes, a daemon killed with `kill -9` leaves its plugins
//! writing to live pipes (no `EPIPE`, no `SIGPIPE`), so they keep running until the next daemon
//! stops them. The relay ends by itself at end of file on both pipes, that is once the plugin and
//! every helper that inherited its output are gone, after writing the last lines.
//!
//! The plugin's stdout pipe is the relay's fd 0 and its stderr pipe the relay's fd 1: the
//! standard slots are the only descriptors `std::process::Command` hands a child without
//! `unsafe` code, and a pipe's read end reads the same whatever its number.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::StreamExt;
use tokio::io::AsyncRead;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, FramedRead, LinesCodec, LinesCodecError};
use toru_plugin_api::PluginId;

use super::entry::{LogEntry, split_priority};
use super::file_writer::{RotatingWriter, Rotation};

/// The first argument that turns `toru-daemon` into a log relay; `main` checks for it before
/// parsing the daemon's own flags.
pub const RELAY_FLAG: &str = "--log-relay";

/// The longest log line kept; longer ones are replaced by a note, so a plugin cannot make the
/// relay buffer without bound.
pub const MAX_LOG_LINE: usize = 16 * 1024;

/// Lines queued between the pipe readers and the file writer. A full queue makes the plugin wait
/// on its pipe: backpressure, not unbounded memory.
const LINE_QUEUE: usize = 1024;

/// The flags of `toru-daemon --log-relay`, given by the embedded backend, never by an admin.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "toru-daemon --log-relay")]
pub struct RelayArgs {
    /// The directory of the plugin log files.
    #[arg(long)]
    pub dir: PathBuf,
    /// The plugin whose output this is; it names the file, so it is parsed as a [`PluginId`].
    #[arg(long)]
    pub plugin: PluginId,
    /// The plugin's pid, recorded in every entry.
    #[arg(long)]
    pub pid: u32,
    /// Size at which the live file is rotated.
    #[arg(long)]
    pub max_bytes: u64,
    /// How many rotated files are kept.
    #[arg(long)]
    pub keep: u32,
}

impl RelayArgs {
    /// The arguments after [`RELAY_FLAG`] that reproduce these flags, for spawning a relay.
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        vec![
            "--dir".into(),
            self.dir.clone().into(),
            "--plugin".into(),
            self.plugin.to_string().into(),
            "--pid".into(),
            self.pid.to_string().into(),
            "--max-bytes".into(),
            self.max_bytes.to_string().into(),
            "--keep".into(),
            self.keep.to_string().into(),
        ]
    }
}

/// The relay's whole run: reads fd 0 (the plugin's stdout) and fd 1 (its stderr) to their ends
/// and writes every line to the plugin's log. Blocking; `main` calls it in relay mode.
pub fn run(args: RelayArgs) -> std::io::Result<()> {
    let stdout = std::io::stdin().as_fd().try_clone_to_owned()?;
    let stderr = std::io::stdout().as_fd().try_clone_to_owned()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let stdout = pipe::Receiver::from_owned_fd(stdout)?;
        let stderr = pipe::Receiver::from_owned_fd(stderr)?;
        relay(stdout, stderr, &args).await;
        Ok(())
    })
}

/// Copies both streams' lines to the plugin's log until both end, then waits for the last write.
pub async fn relay(
    stdout: impl AsyncRead + Unpin,
    stderr: impl AsyncRead + Unpin,
    args: &RelayArgs,
) {
    let rotation = Rotation {
        max_bytes: args.max_bytes,
        keep: args.keep,
    };
    let (sink, writer) = spawn_log_writer(args.dir.clone(), args.plugin.clone(), rotation);
    futures::join!(
        forward_lines(stdout, "stdout", args.pid, sink.clone()),
        forward_lines(stderr, "stderr", args.pid, sink),
    );
    let _ = writer.await;
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
        if sink.send(line).await.is_err() {
            return;
        }
    }
}

/// Writes a plugin's lines to its rotating file in batches, off the async runtime. The task ends
/// once every sender is gone and the queue is written.
fn spawn_log_writer(
    dir: PathBuf,
    plugin_id: PluginId,
    rotation: Rotation,
) -> (mpsc::Sender<Line>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Line>(LINE_QUEUE);
    let task = tokio::spawn(async move {
        let writer = Arc::new(Mutex::new(RotatingWriter::new(&dir, &plugin_id, rotation)));
        let mut batch = Vec::with_capacity(64);
        while rx.recv_many(&mut batch, 256).await > 0 {
            let entries: Vec<LogEntry> = batch
                .drain(..)
                .map(|l| to_entry(plugin_id.as_str(), l))
                .collect();
            let writer = writer.clone();
            // A failed write loses those lines: the relay has nowhere to report it, and a
            // plugin must not stall because its log cannot be written.
            let _ = tokio::task::spawn_blocking(move || {
                let mut writer = crate::sync::lock(&writer);
                entries.iter().try_for_each(|e| writer.write(e))
            })
            .await;
        }
    });
    (tx, task)
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
