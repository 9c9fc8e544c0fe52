//! `--metadata` in a sandboxed transient unit, and a Node.js plugin that needs `jit`, against a
//! real systemd, each test in its own throw-away sandbox (`scripts/systemd-sandbox`, see
//! `support/sandbox.rs`).
//!
//! Needs root, the example Rust plugin (built by the outer run) and `/usr/bin/node` on the host
//! (the sandbox boots the host's root). Without them these tests fail with the reason; they
//! never skip.
//!
//! Run: `cargo test -p toru-daemon --test systemd_metadata`.

mod support;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{fixtures, sandbox};
use toru_daemon::plugins::backend::systemd::{METADATA_UNIT_PREFIX, SystemdBackend, SystemdConfig};
use toru_daemon::plugins::backend::{ExitInfo, LaunchSpec, Limits, SupervisorBackend};
use toru_daemon::plugins::discovery::{self, DiscoveryLimits};
use toru_plugin_api::testing::{TestDaemon, get};
use toru_plugin_api::{Body, PluginId};

/// How long a test waits for a plugin to listen, or for an exit to be reported.
const WAIT: Duration = Duration::from_secs(20);

/// The Node.js example plugin's source, made into a binary the way its `build.sh` does.
const HELLO_NODE: &str = include_str!("../../examples/hello-plugin-node/hello-node.js");

fn in_sandbox<F, Fut>(name: &str, body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    if !sandbox::is_inner() {
        fixtures::hello_rust();
        assert!(
            Path::new("/usr/bin/node").exists(),
            "these tests run the Node.js example with the host's /usr/bin/node, which is missing"
        );
    }
    sandbox::run(name, body);
}

async fn backend() -> SystemdBackend {
    SystemdBackend::connect(SystemdConfig::default())
        .await
        .expect("connect to systemd in the sandbox")
}

/// A shell script as `<name>.binary`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    sandbox::install_file(
        dir,
        &format!("{name}.binary"),
        format!("#!/bin/sh\n{body}\n").as_bytes(),
    )
}

/// The Node.js example as `hello-node.binary`.
fn install_node(dir: &Path) -> PathBuf {
    let text = format!("#!/usr/bin/node\n{HELLO_NODE}");
    sandbox::install_file(dir, "hello-node.binary", text.as_bytes())
}

/// `--metadata` units still loaded, as `systemctl list-units --all` names them.
fn metadata_units() -> Vec<String> {
    let pattern = format!("{METADATA_UNIT_PREFIX}*");
    sandbox::cmd(
        "systemctl",
        &["list-units", "--all", "--no-legend", "--plain", &pattern],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

#[test]
fn metadata_runs_in_a_sandboxed_unit_and_every_failure_keeps_its_reason() {
    in_sandbox(
        "metadata_runs_in_a_sandboxed_unit_and_every_failure_keeps_its_reason",
        || async {
            let dir = sandbox::plugin_dir();
            let hello = std::fs::read(fixtures::hello_rust()).expect("target/debug/hello-rust");
            sandbox::install_file(&dir, "hello.binary", &hello);
            install_node(&dir);
            // Answers only from inside the sandbox: not root, in a network namespace of its own.
            let our_net = std::fs::read_link("/proc/self/ns/net").expect("our network namespace");
            script(
                &dir,
                "sandboxed",
                &format!(
                    r#"[ "$(id -u)" != 0 ] || exit 7
[ "$(readlink /proc/self/ns/net)" != "{}" ] || exit 8
echo '{{"id":"sandboxed","name":"S","version":"1","route":"/s","protocol_version":1}}'"#,
                    our_net.display()
                ),
            );
            script(&dir, "garbage", "echo this is not json"); // lies
            script(&dir, "hangs", "sleep 60"); // hangs
            script(&dir, "fails", "echo boom >&2; exit 3"); // exits non-zero
            script(&dir, "huge", "head -c 70000 /dev/zero | tr '\\0' x"); // too much output
            std::fs::write(dir.join("not-executable.binary"), "#!/bin/sh\necho hi\n").unwrap();

            let backend = backend().await;
            let limits = DiscoveryLimits {
                timeout: Duration::from_secs(3),
                ..DiscoveryLimits::default()
            };
            let trust = toru_daemon::plugins::trust::Trust::new(dir.join(".verified"));
            let scan = discovery::scan(&dir, limits, Limits::default(), &backend, &trust)
                .await
                .expect("scan");

            let ids: Vec<&str> = scan.plugins.iter().map(|p| p.id.as_str()).collect();
            assert_eq!(
                ids,
                ["hello-node", "hello-rust", "sandboxed"],
                "{:#?}",
                scan.failures
            );
            let node = &scan.plugins[0];
            assert!(node.meta.permissions.jit, "hello-node declares jit");
            let reason = |name: &str| {
                scan.failures
                    .iter()
                    .find(|f| f.binary.file_name().unwrap() == format!("{name}.binary").as_str())
                    .unwrap_or_else(|| panic!("{name} not reported: {:#?}", scan.failures))
                    .reason
                    .clone()
            };
            assert!(reason("garbage").contains("invalid metadata"));
            assert!(reason("hangs").contains("did not finish"));
            assert!(reason("huge").contains("more than"));
            assert!(reason("not-executable").contains("cannot execute"));
            let fails = reason("fails");
            assert!(
                fails.contains("--metadata failed: exited with status 3"),
                "{fails}"
            );
            // The reason carries the start of its stderr.
            assert!(fails.contains("stderr: boom"), "{fails}");
            assert_eq!(scan.failures.len(), 5, "{:#?}", scan.failures);
            // Every run's unit is gone: the hanging and the talkative ones were stopped, the
            // failed ones reset.
            assert_eq!(metadata_units(), Vec::<String>::new());
        },
    );
}

/// The overall exposure `systemd-analyze security` gives the unit.
fn exposure(unit: &str) -> f64 {
    let out = sandbox::cmd_output("systemd-analyze", &["security", "--no-pager", unit]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score: {}", String::from_utf8_lossy(&out.stderr)));
    line.rsplit(':')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot parse the score in {line:?}"))
}

/// Connects to the plugin's socket and runs `lifecycle.init`.
async fn connect_and_init(socket: &Path, id: &str) -> TestDaemon {
    let mut daemon = TestDaemon::connect(socket, WAIT)
        .await
        .expect("connect to the plugin socket");
    daemon
        .init(id, "00000000-0000-4000-8000-000000000001")
        .await
        .expect("lifecycle.init");
    daemon
}

#[test]
fn a_node_plugin_aborts_without_jit_and_serves_with_it() {
    in_sandbox(
        "a_node_plugin_aborts_without_jit_and_serves_with_it",
        || async {
            let dir = sandbox::plugin_dir();
            let binary = install_node(&dir);
            let backend = backend().await;
            let id = PluginId::new("hello-node").unwrap();
            let mut spec = LaunchSpec {
                socket: backend.socket_path(&id),
                plugin_id: id.clone(),
                binary,
                permissions: Default::default(),
                limits: Limits::default(),
            };

            // Without jit: MemoryDenyWriteExecute=yes, and V8 cannot start.
            let running = backend.start(&spec).await.expect("start without jit");
            let exit = tokio::time::timeout(WAIT, running.exited)
                .await
                .expect("the exit was not reported in time")
                .expect("the watcher reported an exit");
            assert!(
                !matches!(exit, ExitInfo::Exited(0)),
                "node must fail under W^X, but {exit}"
            );
            println!("without jit, hello-node {exit}");

            // With jit: it runs and answers its route.
            spec.permissions.jit = true;
            let running = backend.start(&spec).await.expect("start with jit");
            let unit = running.unit.clone().expect("a unit");
            let shown = sandbox::cmd(
                "systemctl",
                &["show", &unit, "-p", "MemoryDenyWriteExecute"],
            );
            assert_eq!(shown.trim(), "MemoryDenyWriteExecute=no");
            // W^X off costs exposure; the unit must still score like any plugin unit.
            let score = exposure(&unit);
            println!("SECURITY SCORE {unit} (jit): {score}");
            assert!(score <= 1.5, "{unit} scores {score}, above 1.5");
            let mut daemon = connect_and_init(&spec.socket, "hello-node").await;
            let reply = daemon.call(get("/hello")).await.expect("http.request");
            match reply.body {
                Body::HttpResponse(response) => {
                    assert_eq!(response.status, 200);
                    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
                    assert_eq!(body["message"], "Hello from Node.js", "{body}");
                }
                other => panic!("expected http.response, got {other:?}"),
            }
            backend
                .stop(&id, Duration::from_secs(5))
                .await
                .expect("stop");
        },
    );
}
