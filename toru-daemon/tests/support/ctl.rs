//! Running the real `toructl` binary against a test daemon, as an admin would.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use super::api::ApiDaemon;
use super::fixtures::toructl;

/// What one toructl run did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs toructl with no contexts: its config directory does not exist, so a developer's own
/// `~/.config/toru/contexts.toml` never changes what a test talks to.
pub async fn run_with(args: &[&str], stdin: Option<&str>) -> Run {
    run_configured(Path::new("/nonexistent/toru-tests"), args, stdin).await
}

/// Runs toructl with `config_home` as its `XDG_CONFIG_HOME`, where contexts are kept.
pub async fn run_configured(config_home: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(toructl())
        .args(args)
        .env_remove("TORU_SOCKET")
        .env_remove("TORU_URL")
        .env_remove("TORU_SESSION")
        .env_remove("TORU_CONTEXT")
        .env("XDG_CONFIG_HOME", config_home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        // toructl may exit before reading (a usage error): a broken pipe here is expected.
        let _ = input.write_all(text.as_bytes()).await;
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("toructl finished")
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `toructl --socket <the daemon's socket> ARGS`.
pub async fn ctl(d: &ApiDaemon, args: &[&str]) -> Run {
    ctl_in(d, args, None).await
}

pub async fn ctl_in(d: &ApiDaemon, args: &[&str], stdin: Option<&str>) -> Run {
    let socket = d.socket();
    let mut all = vec!["--socket", socket.to_str().unwrap()];
    all.extend_from_slice(args);
    run_with(&all, stdin).await
}

/// Starts `toructl --socket <the daemon's socket> ARGS` that keeps running (a follow), with its
/// standard output read line by line; killed when dropped.
pub fn spawn_ctl(d: &ApiDaemon, args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let socket = d.socket();
    let mut child = Command::new(toructl())
        .arg("--socket")
        .arg(&socket)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

pub fn ok(run: &Run, what: &str) {
    assert_eq!(
        run.code, 0,
        "{what}: stdout {}\nstderr {}",
        run.stdout, run.stderr
    );
}
