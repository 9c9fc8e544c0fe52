//! Running `BINARY --metadata`: what discovery asks of a backend ([`MetadataRun`]), how it can
//! fail ([`MetadataError`]), and the way a backend without a sandbox does it, as a child of the
//! daemon ([`run_as_child`]).
//!
//! The backend runs it because only the backend knows where it may run: under systemd the
//! daemon's own unit forbids writable-then-executable memory, so a runtime with a JIT could not
//! even start there, and a child would run unsandboxed as the daemon's user. The bounds (time,
//! output size) are the caller's and the same for every backend, so a binary that hangs, lies or
//! talks too much gets the same reason whichever backend asked it.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::{Cause, ExitInfo, Limits};

/// One `--metadata` run: which binary, and the bounds it must keep.
#[derive(Debug, Clone, Copy)]
pub struct MetadataRun<'a> {
    /// Absolute path of the executable.
    pub binary: &'a Path,
    /// How long it may take, from start to exit.
    pub timeout: Duration,
    /// The most it may print on stdout, in bytes.
    pub max_output: usize,
    /// The resource limits of plugin processes, applied where the backend can.
    pub limits: Limits,
}

/// Why a `--metadata` run gave nothing to parse. The text is the reason an administrator sees
/// in the discovery failures, so every variant says what the binary did.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The binary could not be started.
    #[error("cannot execute: {0}")]
    CannotExecute(String),
    /// It did not print its metadata and exit within the time limit; it was stopped.
    #[error("--metadata did not finish within {0:?}")]
    TimedOut(Duration),
    /// It printed more than the output limit; it was stopped.
    #[error("--metadata printed more than {0} bytes")]
    TooMuchOutput(usize),
    /// It ended unsuccessfully.
    #[error("--metadata failed: {exit}{}", stderr_note(.stderr))]
    Failed {
        /// How it ended.
        exit: ExitInfo,
        /// The start of what it wrote to stderr, on one line; empty when nothing was kept.
        stderr: String,
    },
    /// Its output could not be read.
    #[error("reading --metadata output failed: {0}")]
    Read(#[source] std::io::Error),
    /// The backend could not run it (systemd refused the unit, the bus failed, …).
    #[error("cannot run --metadata: {0}")]
    Backend(#[source] Cause),
}

/// `; stderr: …` for a failure's reason, or nothing.
fn stderr_note(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; stderr: {stderr}")
    }
}

/// Reads at most `max_output` bytes from `output` until it closes, or `None` when there is
/// more. One byte over the cap tells "too much" from "exactly the cap".
pub async fn read_capped(
    output: impl AsyncRead + Unpin,
    max_output: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    output
        .take(max_output as u64 + 1)
        .read_to_end(&mut bytes)
        .await?;
    Ok((bytes.len() <= max_output).then_some(bytes))
}

/// Starts `binary --metadata`. A file written a moment ago (an upload) can still be open for
/// writing in a child another thread of this process forked and has not yet exec'd (the
/// descriptor is close-on-exec, but only from the exec on), and Linux refuses to run it
/// (`ETXTBSY`) for that instant; so that error is retried briefly, as Go's `os/exec` advises.
async fn spawn_metadata(binary: &std::path::Path) -> Result<tokio::process::Child, MetadataError> {
    let mut delay = Duration::from_millis(10);
    loop {
        let spawned = Command::new(binary)
            .arg("--metadata")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        match spawned {
            Err(e)
                if e.kind() == std::io::ErrorKind::ExecutableFileBusy
                    && delay < Duration::from_secs(1) =>
            {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other.map_err(|e| MetadataError::CannotExecute(e.to_string())),
        }
    }
}

/// Runs `--metadata` as a child of the daemon, as the daemon's user, without a sandbox: stdin
/// closed, stderr discarded, killed when a bound is hit or when the returned future is dropped.
/// The embedded backend's way, having no sandbox to put it in.
pub async fn run_as_child(run: &MetadataRun<'_>) -> Result<Vec<u8>, MetadataError> {
    let mut child = spawn_metadata(run.binary).await?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let finish = async {
        let Some(output) = read_capped(stdout, run.max_output)
            .await
            .map_err(MetadataError::Read)?
        else {
            return Err(MetadataError::TooMuchOutput(run.max_output));
        };
        let status = child.wait().await.map_err(MetadataError::Read)?;
        Ok((output, status))
    };
    let result = tokio::time::timeout(run.timeout, finish).await;
    let (output, status) = match result {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            let _ = child.kill().await;
            return Err(e);
        }
        Err(_) => {
            let _ = child.kill().await;
            return Err(MetadataError::TimedOut(run.timeout));
        }
    };
    if !status.success() {
        let exit = match (status.code(), status.signal()) {
            (Some(code), _) => ExitInfo::Exited(code),
            (None, Some(signal)) => ExitInfo::Killed(signal),
            (None, None) => ExitInfo::Unknown(status.to_string()),
        };
        return Err(MetadataError::Failed {
            exit,
            stderr: String::new(),
        });
    }
    Ok(output)
}
