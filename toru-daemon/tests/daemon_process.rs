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

/// Whether some live process's command line has all of `parts` as arguments.
fn process_with_args(parts: &[&str]) -> bool {
    let Ok(proc) = std::fs::read_dir("/proc") else {
        return false;
    };
    proc.flatten().any(|entry| {
        let pid = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok());
        if !pid.is_some_and(alive) {
            return false;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        parts.iter().all(|part| args.contains(&part.as_bytes()))
    })
}

/// An embedded plugin that writes to stdout all the time used to die of `EPIPE` when its daemon
/// was killed, because the daemon held the read end of its output pipe. Its log relay holds it
/// now: the plugin lives on, its lines still reach its log file, and the next daemon stops it
/// (after which the relay ends too) as "If the daemon was killed, its children keep running"
/// promises.
#[test]
fn a_chatty_plugin_survives_a_killed_daemon_until_the_next_one_stops_it() {
    use std::os::unix::fs::MetadataExt;
    let dirs = Dirs::new();
    let meta = support::fixtures::metadata_json("chatty");
    support::fixtures::script(
        &dirs.plugins(),
        "chatty",
        &format!(
            "if [ \"$1\" = --metadata ]; then echo '{meta}'; exit 0; fi\n\
             while :; do echo tick; sleep 0.01; done"
        ),
    );
    enable_in_state_file(&dirs.plugins(), "chatty");
    let log = dirs.logs().join("plugins/chatty.log");
    let log_size = || std::fs::metadata(&log).map_or(0, |m| m.len());

    let mut daemon = start_daemon(&dirs);
    let first = wait_for_pid(&dirs.runtime(), "chatty", None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while log_size() == 0 {
        assert!(
            Instant::now() < deadline,
            "the plugin's lines never reached its log"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::metadata(&log).unwrap().mode() & 0o777,
        0o640,
        "plugin logs are not world-readable"
    );

    daemon.0.kill().unwrap();
    daemon.0.wait().unwrap();
    let at_kill = log_size();
    // It keeps writing to its live pipe, and its lines keep reaching the file.
    let deadline = Instant::now() + Duration::from_secs(5);
    while log_size() <= at_kill + 1024 {
        assert!(alive(first), "the plugin died with its daemon");
        assert!(
            Instant::now() < deadline,
            "nothing was logged after the daemon died"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(alive(first), "the plugin died with its daemon");

    // The next daemon stops the leftover; its relay ends at the end of the pipes.
    let _daemon = start_daemon(&dirs);
    let deadline = Instant::now() + Duration::from_secs(10);
    let first_pid = first.to_string();
    let first_relay = ["--log-relay", "--plugin", "chatty", "--pid", &first_pid];
    while alive(first) || process_with_args(&first_relay) {
        assert!(
            Instant::now() < deadline,
            "the leftover plugin {first} or its relay was not stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The daemon's own log has no ANSI colour codes when stderr is a pipe or a file.
#[test]
fn the_daemon_log_to_a_pipe_has_no_escape_codes() {
    use std::io::{BufRead, BufReader};
    let dirs = Dirs::new();
    let mut child = Command::new(DAEMON)
        .args(["--supervisor", "embedded", "--config", "/dev/null"])
        .args(["--listen", "127.0.0.1:0"])
        .args(dir_args(&dirs))
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut daemon = Running(child);
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let listening = line.contains("API listening");
        seen.push(line);
        if listening {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-TERM", &daemon.0.id().to_string()])
        .status();
    assert!(kill.unwrap().success());
    assert!(daemon.0.wait().unwrap().success());
    seen.extend(lines.map_while(Result::ok));
    let text = seen.join("\n");
    assert!(text.contains("API listening"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "escape codes in the log: {text:?}"
    );
}

/// Lines a child prints on stdout, read on a thread, so a test can wait for them with a limit.
fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn logs_follow_survives_a_daemon_restart_without_duplicates_and_exits_3_when_it_is_gone() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    enable_in_state_file(&dirs.plugins(), "hello-rust");
    let daemon = start_daemon(&dirs);
    wait_for_pid(&dirs.runtime(), "hello-rust", None);
    let mut follow = Command::new(support::fixtures::toructl())
        .arg("--socket")
        .arg(dirs.runtime().join("toru.sock"))
        .args(["plugin", "logs", "hello-rust", "-f", "-n", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = stdout_lines(&mut follow);
    let mut seen: Vec<String> = Vec::new();
    let started = |seen: &[String]| {
        seen.iter()
            .filter(|l| l.contains("initialised for instance"))
            .count()
    };
    let read_until = |seen: &mut Vec<String>, count: usize| {
        while started(seen) < count {
            let line = lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no start logged in time; printed: {seen:#?}"));
            seen.push(line);
        }
    };
    read_until(&mut seen, 1);

    // The daemon stops (its embedded plugin with it) and a new one starts: the follow reconnects
    // and shows the new start's lines, and none of the old ones again.
    drop(daemon);
    let daemon = start_daemon(&dirs);
    read_until(&mut seen, 2);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "printed twice: {seen:#?}");

    // Gone for good: after its 30 s reconnect window, the documented "unreachable" exit code.
    drop(daemon);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = follow.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "logs -f did not give up");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(3));
}
