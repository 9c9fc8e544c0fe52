//! The `toru-daemon` executable itself, as an admin runs it: flags, start-up, restoring enabled
//! plugins, and recovering from `kill -9` of the daemon (embedded backend: a child left behind
//! by the killed daemon is stopped and started afresh, never run twice).

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::fixtures::{hello_rust, install};
use support::harness::{Dirs, alive};

const DAEMON: &str = env!("CARGO_BIN_EXE_toru-daemon");

/// Stops the daemon when the test ends or fails half-way: SIGTERM first, so it stops its
/// embedded plugins too (a SIGKILL would leave them running after the test), SIGKILL if it has
/// not exited within 10 s.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The daemon's directory flags, all inside the test's temp directory.
fn dir_args(dirs: &Dirs) -> [std::ffi::OsString; 8] {
    [
        "--data-dir".into(),
        dirs.root.path().join("data").into(),
        "--plugins-dir".into(),
        dirs.plugins().into(),
        "--runtime-dir".into(),
        dirs.runtime().into(),
        "--log-dir".into(),
        dirs.logs().into(),
    ]
}

fn start_daemon(dirs: &Dirs) -> Running {
    let child = Command::new(DAEMON)
        .args([
            "--supervisor",
            "embedded",
            "--config",
            "/dev/null",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(dir_args(dirs))
        .env("RUST_LOG", "info")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Running(child)
}

/// The pid the embedded backend recorded for a plugin, once that process runs.
fn wait_for_pid(runtime: &Path, plugin: &str, not: Option<u32>) -> u32 {
    let pid_file = runtime.join(format!("plugins/{plugin}.pid"));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            .filter(|pid| Some(*pid) != not && alive(*pid))
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "{plugin} never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn enable_in_state_file(plugins: &Path, id: &str) {
    let dir = plugins.join(".metadata");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        format!(r#"{{"version":1,"plugins":{{"{id}":{{"enabled":true}}}}}}"#),
    )
    .unwrap();
}

#[test]
fn restores_enabled_plugins_and_cleans_up_after_kill_9() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    enable_in_state_file(&dirs.plugins(), "hello-rust");

    let mut daemon = start_daemon(&dirs);
    let first = wait_for_pid(&dirs.runtime(), "hello-rust", None);

    // kill -9: the daemon gets no chance to stop its child, which lives on.
    daemon.0.kill().unwrap();
    daemon.0.wait().unwrap();
    assert!(alive(first), "the plugin outlived the killed daemon");

    // The next daemon stops the leftover and starts exactly one new process.
    let _daemon = start_daemon(&dirs);
    let second = wait_for_pid(&dirs.runtime(), "hello-rust", Some(first));
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(first) {
        assert!(
            Instant::now() < deadline,
            "the leftover plugin {first} was not stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(alive(second));
}

#[test]
fn sigterm_stops_the_daemon_and_its_embedded_plugins() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    enable_in_state_file(&dirs.plugins(), "hello-rust");
    let mut daemon = start_daemon(&dirs);
    let pid = wait_for_pid(&dirs.runtime(), "hello-rust", None);
    let kill = Command::new("kill")
        .args(["-TERM", &daemon.0.id().to_string()])
        .status();
    assert!(kill.unwrap().success());
    let status = daemon.0.wait().unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(!alive(pid), "embedded plugins stop with the daemon");
}

#[test]
fn a_bad_config_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("toru.toml");
    std::fs::write(&file, "no_such_key = 1\n").unwrap();
    let out = Command::new(DAEMON)
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"));
}

/// An HTTP/1.0 GET over TCP, returning the whole response (status line first).
fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    Ok(reply)
}

#[test]
fn socket_activation_serves_the_listeners_systemd_passes() {
    // systemd-socket-activate (package systemd) plays toru-daemon.socket: it binds the Unix
    // socket and the TCP port, names both toru-api, and execs the daemon with them.
    let dirs = Dirs::new();
    std::fs::create_dir_all(dirs.runtime()).unwrap();
    let socket = dirs.runtime().join("activated.sock");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("127.0.0.1:{port}");
    let child = Command::new("systemd-socket-activate")
        .arg("--listen")
        .arg(&socket)
        .args(["--listen", &tcp, "--fdname=toru-api:toru-api"])
        .args(["-E", "RUST_LOG=info", "--", DAEMON])
        .args(["--supervisor", "embedded", "--config", "/dev/null"])
        // An address the daemon could never bind: if it ignored the passed sockets and bound
        // its own, it would fail to start.
        .args(["--listen", "192.0.2.1:9"])
        .args(dir_args(&dirs))
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate is missing (apt install systemd)");
    let mut daemon = Running(child);

    // TCP: the passed listener answers (the first connection may wait for the daemon's start).
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        match http_get(&tcp, "/api/health") {
            Ok(reply) if !reply.is_empty() => break reply,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("no answer on the activated TCP port: {other:?}"),
        }
    };
    assert!(health.starts_with("HTTP/1.0 200"), "{health}");

    // Unix: toructl as root through the passed socket (not <runtime>/toru.sock).
    let status = Command::new(support::fixtures::toructl())
        .arg("--socket")
        .arg(&socket)
        .arg("status")
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "toructl over the activated socket: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        !dirs.runtime().join("toru.sock").exists(),
        "the daemon must not bind a socket of its own when one is passed"
    );

    // On SIGTERM the daemon leaves the passed socket alone: it belongs to the socket unit.
    let kill = Command::new("kill")
        .args(["-TERM", &daemon.0.id().to_string()])
        .status();
    assert!(kill.unwrap().success());
    let exit = daemon.0.wait().unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit}");
    assert!(socket.exists(), "the passed socket file was removed");
}
