//! The systemd backend against a real systemd 252, each test in its own throw-away sandbox
//! (`scripts/systemd-sandbox`, see `support/sandbox.rs`).
//!
//! Needs root (the sandbox uses unshare, mounts and pivot_root) and the example plugin:
//! `cargo build --workspace` first, or let the outer run build `hello-rust`. Without root or
//! systemd these tests fail with the sandbox script's explanation; they never skip.
//!
//! Run: `cargo test -p toru-daemon --test systemd_backend` (add `-- --nocapture` to see the
//! inner runs' output, including the `systemd-analyze security` score).

mod support;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{fixtures, sandbox};
use toru_daemon::error_chain::ErrorChain;
use toru_daemon::plugins::backend::systemd::{SystemdBackend, SystemdConfig, SystemdError};
use toru_daemon::plugins::backend::{
    BackendError, ExitInfo, LaunchSpec, Limits, RunningPlugin, SupervisorBackend, unit_name,
};
use toru_plugin_api::testing::{TestDaemon, get};
use toru_plugin_api::{Body, PluginId};

/// How long a test waits for a plugin to listen, or for an exit to be reported.
const WAIT: Duration = Duration::from_secs(20);

/// Runs `body` inside a fresh sandbox as the test `name`. On the host, first makes sure the
/// example plugin is built: the sandbox has no cargo on its PATH.
fn in_sandbox<F, Fut>(name: &str, body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    if !sandbox::is_inner() {
        fixtures::hello_rust();
    }
    sandbox::run(name, body);
}

async fn backend() -> SystemdBackend {
    SystemdBackend::connect(SystemdConfig {
        extra_env: vec!["TORU_TEST=1".to_owned()],
        ..SystemdConfig::default()
    })
    .await
    .expect("connect to systemd in the sandbox")
}

/// A test plugin's id.
fn plugin_id(id: &str) -> PluginId {
    PluginId::new(id).expect("a valid test id")
}

fn spec(id: &str, binary: &Path) -> LaunchSpec {
    LaunchSpec {
        plugin_id: plugin_id(id),
        binary: binary.to_owned(),
        socket: socket_path(id),
        permissions: Default::default(),
        limits: Limits {
            memory_max: Some(256 << 20),
            cpu_quota_percent: None,
            tasks_max: Some(64),
        },
    }
}

/// Where the daemon connects to the plugin `id` (the backend's default socket directory).
fn socket_path(id: &str) -> PathBuf {
    SystemdConfig::default().socket_path(&plugin_id(id))
}

/// The example Rust plugin, copied where a dynamic user can run it.
fn install_hello(dir: &Path) -> PathBuf {
    let bytes = std::fs::read(fixtures::hello_rust()).expect(
        "target/debug/hello-rust is missing: run `cargo build --workspace` before these tests",
    );
    sandbox::install_file(dir, "hello.binary", &bytes)
}

/// Waits for the reported end of a plugin.
async fn exit_of(running: RunningPlugin) -> ExitInfo {
    tokio::time::timeout(WAIT, running.exited)
        .await
        .expect("the exit was not reported in time")
        .expect("the watcher dropped the sender without reporting")
}

/// Connects to the plugin's socket and runs `lifecycle.init`.
async fn connect_and_init(id: &str) -> TestDaemon {
    let mut daemon = TestDaemon::connect(&socket_path(id), WAIT)
        .await
        .expect("connect to the plugin socket");
    daemon
        .init(id, "00000000-0000-4000-8000-000000000001")
        .await
        .expect("lifecycle.init");
    daemon
}

/// `GET /greeting` must answer 200.
async fn assert_greets(daemon: &mut TestDaemon) {
    let reply = daemon.call(get("/greeting")).await.expect("http.request");
    match reply.body {
        Body::HttpResponse(response) => assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        ),
        other => panic!("expected http.response, got {other:?}"),
    }
}

fn is_active(unit: &str) -> String {
    let out = sandbox::cmd_output("systemctl", &["is-active", unit]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `systemctl show -p A,B,…` as `A=value` lines.
fn show(unit: &str, props: &[&str]) -> Vec<String> {
    sandbox::cmd("systemctl", &["show", unit, "-p", &props.join(",")])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits (bounded) until the plugin's socket exists.
async fn wait_for_socket(path: &Path) {
    let deadline = Instant::now() + WAIT;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until the journal of `unit` contains `needle`; journald stores unit output
/// asynchronously.
async fn journal_contains(unit: &str, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = sandbox::cmd("journalctl", &["-u", unit, "--no-pager", "-o", "cat"]);
        if log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} not in the journal of {unit}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Prints `systemd-analyze security` for the unit and returns the overall exposure figure.
fn security_score(unit: &str) -> f64 {
    let out = sandbox::cmd_output("systemd-analyze", &["security", "--no-pager", unit]);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "no score from systemd-analyze security: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let score: f64 = line
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot parse the score in {line:?}"));
    println!("SECURITY SCORE {unit}: {score}");
    score
}

/// The sandbox directives each plugin unit must carry, as `systemctl show` prints them.
const EXPECTED_PROPERTIES: &[&str] = &[
    "Type=exec",
    "Restart=no",
    "DynamicUser=yes",
    "PrivateUsers=yes",
    "NoNewPrivileges=yes",
    "CapabilityBoundingSet=",
    "RestrictSUIDSGID=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "DevicePolicy=closed",
    "ProtectProc=invisible",
    "ProcSubset=pid",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "LockPersonality=yes",
    "RestrictRealtime=yes",
    "MemoryDenyWriteExecute=yes",
    "SystemCallArchitectures=native",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "RuntimeDirectory=toru-plugin-hello",
    "RuntimeDirectoryMode=0700",
    "UMask=0007",
    "Slice=toru-plugins.slice",
    "SyslogIdentifier=hello",
    "MemoryMax=268435456",
    "TasksMax=64",
];

#[test]
fn start_runs_the_plugin_in_a_sandboxed_unit() {
    in_sandbox("start_runs_the_plugin_in_a_sandboxed_unit", || async {
        let probe_started = Instant::now();
        assert!(
            SystemdBackend::probe().await,
            "probe() must see systemd here"
        );
        assert!(probe_started.elapsed() < Duration::from_secs(2));

        let dir = sandbox::plugin_dir();
        let binary = install_hello(&dir);
        let backend = backend().await;
        let unit = unit_name(&plugin_id("hello"));

        let t = Instant::now();
        let running = backend.start(&spec("hello", &binary)).await.expect("start");
        println!("start took {:?}", t.elapsed());
        assert_eq!(running.unit.as_deref(), Some(unit.as_str()));
        let pid = running.pid.expect("a main PID");
        assert_eq!(is_active(&unit), "active");

        let props: Vec<&str> = EXPECTED_PROPERTIES
            .iter()
            .map(|p| p.split('=').next().unwrap())
            .collect();
        let shown = show(&unit, &props);
        println!("{}", shown.join("\n"));
        for expected in EXPECTED_PROPERTIES {
            assert!(
                shown.iter().any(|l| l == expected),
                "{unit} lacks {expected}; systemctl show says:\n{}",
                shown.join("\n")
            );
        }
        let main_pid = show(&unit, &["MainPID"]);
        assert_eq!(main_pid, vec![format!("MainPID={pid}")]);
        let env = show(&unit, &["Environment"]).join(" ");
        assert!(env.contains("TORU_PLUGIN_ID=hello"), "{env}");
        assert!(env.contains("TORU_TEST=1"), "{env}");

        // Root without any capability (as the packaged daemon runs) may connect: the socket is
        // group root and group-writable. Checked from a separate process with every
        // capability dropped, since this test process has them all.
        wait_for_socket(&socket_path("hello")).await;
        let capless = sandbox::cmd_output(
            "setpriv",
            &[
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
                "python3",
                "-c",
                "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); \
                 print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])",
                socket_path("hello").to_str().unwrap(),
            ],
        );
        assert!(
            capless.status.success(),
            "a capability-less root could not connect: {}",
            String::from_utf8_lossy(&capless.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&capless.stdout).trim(),
            "0000000000000000",
            "the check must run without capabilities"
        );

        // The plugin answers on its socket, from inside its sandbox.
        let t = Instant::now();
        let mut daemon = connect_and_init("hello").await;
        println!("connect + init took {:?}", t.elapsed());
        assert_greets(&mut daemon).await;
        journal_contains(
            &unit,
            "initialised for instance 00000000-0000-4000-8000-000000000001",
        )
        .await;
        // The extra field lets the logs API match the plugin directly.
        let by_field = sandbox::cmd(
            "journalctl",
            &["TORU_PLUGIN=hello", "--no-pager", "-o", "cat"],
        );
        assert!(by_field.contains("initialised for instance"), "{by_field}");

        assert_eq!(backend.list_running().await.unwrap(), vec!["hello"]);
        let score = security_score(&unit);
        assert!(score <= 1.5, "exposure {score} is over the 1.5 target");

        let t = Instant::now();
        backend
            .stop(&plugin_id("hello"), Duration::from_secs(5))
            .await
            .expect("stop");
        println!("stop took {:?}", t.elapsed());
        // The runner exits 0 on SIGTERM.
        assert_eq!(exit_of(running).await, ExitInfo::Exited(0));
        assert_ne!(is_active(&unit), "active");
        assert!(
            !Path::new("/run/toru-plugin-hello").exists(),
            "the RuntimeDirectory must go with the unit"
        );
        assert!(backend.list_running().await.unwrap().is_empty());

        // Stopping what does not run is not an error.
        backend
            .stop(&plugin_id("hello"), Duration::from_secs(1))
            .await
            .expect("stop again");
        backend
            .stop(&plugin_id("never-started"), Duration::from_secs(1))
            .await
            .expect("stop unknown");
    });
}

#[test]
fn a_plugin_that_exits_at_once_reports_its_status() {
    in_sandbox("a_plugin_that_exits_at_once_reports_its_status", || async {
        let dir = sandbox::plugin_dir();
        let backend = backend().await;

        let crash = sandbox::install_file(&dir, "crash.binary", b"#!/bin/sh\nexit 3\n");
        match backend.start(&spec("crash", &crash)).await {
            Ok(running) => {
                println!("start succeeded, then the plugin exited");
                assert_eq!(exit_of(running).await, ExitInfo::Exited(3));
            }
            Err(e @ BackendError::Start { .. }) => println!("start failed: {}", ErrorChain(&e)),
            Err(e) => panic!("unexpected error: {e}"),
        }
        assert_eq!(is_active(&unit_name(&plugin_id("crash"))), "failed");
        assert!(backend.list_running().await.unwrap().is_empty());

        // The failed unit does not block the next start of the same plugin.
        match backend.start(&spec("crash", &crash)).await {
            Ok(again) => assert_eq!(exit_of(again).await, ExitInfo::Exited(3)),
            // Under load the script may exit before its start job completes, as in the first
            // round above; what matters is that the start ran again (no UnitExists).
            Err(e @ BackendError::Start { .. }) => {
                let reason = ErrorChain(&e).to_string();
                assert!(
                    reason.contains("exit status 3") && !reason.contains("UnitExists"),
                    "start after a failure: {reason}"
                );
                // The cause is typed: the start job failed, with the unit's details.
                let cause =
                    std::error::Error::source(&e).and_then(|c| c.downcast_ref::<SystemdError>());
                assert!(
                    matches!(cause, Some(SystemdError::StartJobFailed { .. })),
                    "{reason}"
                );
            }
            Err(e) => panic!("start after a failure: {e}"),
        }
        // Stopping a failed plugin clears the failed unit.
        backend
            .stop(&plugin_id("crash"), Duration::from_secs(1))
            .await
            .expect("stop a failed unit");
        assert_ne!(is_active(&unit_name(&plugin_id("crash"))), "failed");

        // A binary that cannot be executed fails the start job (Type=exec).
        let broken = sandbox::install_file(&dir, "broken.binary", b"not an executable\n");
        let err = backend
            .start(&spec("broken", &broken))
            .await
            .expect_err("a binary that cannot run must not start");
        println!("broken binary: {err}");
        assert!(
            matches!(&err, BackendError::Start { plugin_id, .. } if plugin_id == "broken"),
            "{err}"
        );
        let missing = backend
            .start(&spec("missing", &dir.join("missing.binary")))
            .await
            .expect_err("a missing binary must not start");
        println!("missing binary: {missing}");
    });
}

#[test]
fn kill_9_is_reported_as_killed() {
    in_sandbox("kill_9_is_reported_as_killed", || async {
        let dir = sandbox::plugin_dir();
        let binary = install_hello(&dir);
        let backend = backend().await;

        let running = backend.start(&spec("hello", &binary)).await.expect("start");
        let pid = running.pid.expect("a main PID");
        // Wait until it serves, so the kill hits a running plugin, not one starting up.
        connect_and_init("hello").await;
        sandbox::cmd("kill", &["-9", &pid.to_string()]);
        assert_eq!(exit_of(running).await, ExitInfo::Killed(9));
        assert_eq!(is_active(&unit_name(&plugin_id("hello"))), "failed");

        // The supervisor's restart: a new unit of the same name, a new process.
        let again = backend
            .start(&spec("hello", &binary))
            .await
            .expect("restart");
        assert_ne!(again.pid, Some(pid));
        connect_and_init("hello").await;
        backend
            .stop(&plugin_id("hello"), Duration::from_secs(5))
            .await
            .unwrap();
        exit_of(again).await;
    });
}

/// A plugin that ignores SIGTERM: `trap '' TERM` is inherited by `sleep`, so nothing in the
/// cgroup reacts to it. It says when the trap is set, so a stop cannot overtake the trap.
const STUBBORN_PLUGIN: &[u8] = b"#!/bin/sh
trap '' TERM
: > \"${TORU_PLUGIN_SOCKET%/*}/trap-set\"
while :; do sleep 1; done
";

#[test]
fn a_plugin_ignoring_sigterm_is_killed_after_the_grace() {
    in_sandbox(
        "a_plugin_ignoring_sigterm_is_killed_after_the_grace",
        || async {
            let dir = sandbox::plugin_dir();
            let backend = backend().await;
            let stubborn = sandbox::install_file(&dir, "stubborn.binary", STUBBORN_PLUGIN);
            let running = backend
                .start(&spec("stubborn", &stubborn))
                .await
                .expect("start");
            let trap_set = socket_path("stubborn").with_file_name("trap-set");
            let deadline = Instant::now() + WAIT;
            while !trap_set.exists() {
                assert!(Instant::now() < deadline, "the script never set its trap");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }

            let t = Instant::now();
            backend
                .stop(&plugin_id("stubborn"), Duration::from_secs(1))
                .await
                .expect("stop");
            let took = t.elapsed();
            println!("stop with 1 s grace took {took:?}");
            assert!(
                took >= Duration::from_secs(1),
                "SIGKILL came before the grace: {took:?}"
            );
            assert!(
                took < Duration::from_secs(10),
                "the grace was not applied: {took:?}"
            );
            assert_eq!(exit_of(running).await, ExitInfo::Killed(9));
            assert!(backend.list_running().await.unwrap().is_empty());
        },
    );
}

#[test]
fn adopt_after_a_daemon_restart_keeps_the_same_process() {
    in_sandbox(
        "adopt_after_a_daemon_restart_keeps_the_same_process",
        || async {
            let dir = sandbox::plugin_dir();
            let binary = install_hello(&dir);
            let unit = unit_name(&plugin_id("hello"));

            let first = backend().await;
            let running = first.start(&spec("hello", &binary)).await.expect("start");
            let pid = running.pid.expect("a main PID");
            let invocation = show(&unit, &["InvocationID"]);
            connect_and_init("hello").await;
            // The daemon goes away: backend, watcher receiver and connection.
            drop(running);
            drop(first);

            let second = backend().await;
            assert_eq!(second.list_running().await.unwrap(), vec!["hello"]);
            let t = Instant::now();
            let adopted = second
                .adopt(&plugin_id("hello"))
                .await
                .expect("adopt")
                .expect("the unit still runs");
            println!("adopt took {:?}", t.elapsed());
            assert_eq!(
                adopted.pid,
                Some(pid),
                "adopting must not restart the plugin"
            );
            assert_eq!(adopted.unit.as_deref(), Some(unit.as_str()));
            assert_eq!(show(&unit, &["InvocationID"]), invocation);
            let mut daemon = connect_and_init("hello").await;
            assert_greets(&mut daemon).await;

            assert!(
                second
                    .adopt(&plugin_id("nothing-here"))
                    .await
                    .unwrap()
                    .is_none()
            );

            // The adopted watcher reports the end like a started one.
            second
                .stop(&plugin_id("hello"), Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(exit_of(adopted).await, ExitInfo::Exited(0));

            // A crashed leftover is not adopted, and is cleared so a fresh start works.
            let crash = sandbox::install_file(&dir, "crash.binary", b"#!/bin/sh\nexit 7\n");
            if let Ok(running) = second.start(&spec("crash", &crash)).await {
                assert_eq!(exit_of(running).await, ExitInfo::Exited(7));
            }
            assert_eq!(is_active(&unit_name(&plugin_id("crash"))), "failed");
            let third = backend().await;
            assert!(third.adopt(&plugin_id("crash")).await.unwrap().is_none());
            let load = show(
                &unit_name(&plugin_id("crash")),
                &["LoadState", "ActiveState"],
            );
            assert!(
                !load.contains(&"ActiveState=failed".to_owned()),
                "the failed leftover must be reset: {load:?}"
            );
        },
    );
}

/// A stdlib-only Python plugin speaking the protocol: answers `lifecycle.init` and every
/// `http.request` with 200.
const PYTHON_PLUGIN: &str = r#"#!/usr/bin/python3
import base64, json, os, socket, sys, time

def frame(type_, request_id, payload):
    msg = {"type": type_, "timestamp": int(time.time() * 1000), "request_id": request_id,
           "payload": payload}
    return (json.dumps(msg) + "\n").encode()

path = os.environ["TORU_PLUGIN_SOCKET"]
if len(sys.argv) > 2 and sys.argv[1] == "--socket":
    path = sys.argv[2]
if os.path.exists(path):
    os.unlink(path)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(4)
print(f"<6>python plugin listening on {path}", file=sys.stderr, flush=True)
while True:
    conn, _ = server.accept()
    for line in conn.makefile("rb"):
        msg = json.loads(line)
        rid = msg["request_id"]
        if msg["type"] == "lifecycle.init":
            print(f"<6>python plugin initialised for instance {msg['payload']['instance_id']}",
                  file=sys.stderr, flush=True)
            conn.sendall(frame("lifecycle.ready", rid, {"protocol_version": 1}))
        elif msg["type"] == "http.request":
            body = base64.b64encode(json.dumps({"python": sys.version}).encode()).decode()
            conn.sendall(frame("http.response", rid, {
                "status": 200, "headers": [["content-type", "application/json"]], "body": body}))
    conn.close()
"#;

#[test]
fn a_python_plugin_runs_under_the_sandbox() {
    in_sandbox("a_python_plugin_runs_under_the_sandbox", || async {
        assert!(
            Path::new("/usr/bin/python3").exists(),
            "/usr/bin/python3 is missing (apt install python3)"
        );
        let dir = sandbox::plugin_dir();
        let script = sandbox::install_file(&dir, "py.binary", PYTHON_PLUGIN.as_bytes());
        let backend = backend().await;
        let unit = unit_name(&plugin_id("py"));

        let running = backend.start(&spec("py", &script)).await.expect("start");
        let mut daemon = connect_and_init("py").await;
        assert_greets(&mut daemon).await;
        journal_contains(&unit, "python plugin initialised for instance").await;
        let score = security_score(&unit);
        assert!(score <= 1.5, "exposure {score} is over the 1.5 target");

        backend
            .stop(&plugin_id("py"), Duration::from_secs(5))
            .await
            .expect("stop");
        // CPython does not handle SIGTERM: it dies of it, which systemd counts as a clean stop.
        assert_eq!(exit_of(running).await, ExitInfo::Killed(15));
        assert_ne!(is_active(&unit), "failed");
    });
}

#[test]
fn watchers_end_with_the_unit_or_the_receiver() {
    in_sandbox("watchers_end_with_the_unit_or_the_receiver", || async {
        let dir = sandbox::plugin_dir();
        let binary = install_hello(&dir);
        let backend = backend().await;
        let unit = unit_name(&plugin_id("hello"));
        let tasks = || {
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
        };
        let settle = || tokio::time::sleep(Duration::from_millis(300));
        settle().await;
        let idle = tasks();

        // Dropping the receiver ends the watcher, not the plugin.
        let running = backend.start(&spec("hello", &binary)).await.expect("start");
        let pid = running.pid;
        settle().await;
        let watching = tasks();
        println!("alive tasks: idle {idle}, with a watcher {watching}");
        assert!(watching > idle, "no watcher task?");
        drop(running);
        settle().await;
        assert_eq!(tasks(), idle, "the watcher outlived its receiver");
        assert_eq!(is_active(&unit), "active");

        // The end of the unit ends the watcher.
        let adopted = backend
            .adopt(&plugin_id("hello"))
            .await
            .unwrap()
            .expect("still runs");
        assert_eq!(adopted.pid, pid);
        // Serving means its SIGTERM handler is installed: the stop ends it with status 0.
        connect_and_init("hello").await;
        backend
            .stop(&plugin_id("hello"), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(exit_of(adopted).await, ExitInfo::Exited(0));
        settle().await;
        assert_eq!(tasks(), idle, "the watcher outlived its unit");
    });
}

/// On the host, outside any sandbox: `probe` answers within its bound whether or not this
/// machine has a system bus (`--supervisor auto` must never hang on it).
#[test]
fn probe_answers_within_its_bound() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = Instant::now();
    let found = runtime.block_on(SystemdBackend::probe());
    println!("probe on the host: {found} after {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_millis(2500));
}
