//! The whole `toru-daemon` executable with `--supervisor systemd`, inside a real systemd 252
//! (scripts/systemd-sandbox), driven through its API on the local socket as `toructl` does:
//! units visible in `systemctl`, forwarding, logs from the journal, backoff and give-up on
//! systemd's exit signals, adoption of running units after `kill -9` of the daemon, and the
//! examples under the plugin sandbox.

mod support;

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};
use support::api::{enable, wait_restarted, wait_state};
use support::{fixtures, sandbox};
use toructl::{Client, Endpoint};

const DAEMON: &str = env!("CARGO_BIN_EXE_toru-daemon");

fn in_sandbox<F, Fut>(name: &str, body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    // Built on the host: the inner run only finds them in the bound target/ directory.
    if !sandbox::is_inner() {
        fixtures::hello_rust();
        fixtures::toructl();
        fixtures::example_plugins();
    }
    sandbox::run(name, body);
}

/// A daemon process inside the sandbox; killed on drop.
struct DaemonProcess {
    child: Child,
    client: Client,
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The daemon's directories, under a plugin-readable root.
struct Layout {
    root: PathBuf,
}

impl Layout {
    fn new() -> Self {
        Layout {
            root: sandbox::plugin_dir(),
        }
    }
    fn plugins(&self) -> PathBuf {
        self.root.join("plugins")
    }
    fn socket(&self) -> PathBuf {
        self.root.join("run/toru.sock")
    }
}

async fn start_daemon(layout: &Layout) -> DaemonProcess {
    start_daemon_with(layout, &[]).await
}

/// [`start_daemon`] with more flags.
async fn start_daemon_with(layout: &Layout, extra: &[&str]) -> DaemonProcess {
    let root = &layout.root;
    let child = Command::new(DAEMON)
        .args([
            "--supervisor",
            "systemd",
            "--config",
            "/dev/null",
            "--max-failures",
            "3",
        ])
        .args(["--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(root.join("data"))
        .arg("--plugins-dir")
        .arg(layout.plugins())
        .arg("--runtime-dir")
        .arg(root.join("run"))
        .arg("--log-dir")
        .arg(root.join("logs"))
        .args(extra)
        .stdin(Stdio::null())
        .spawn()
        .expect("start toru-daemon");
    let client = Client::new(Endpoint::Unix(layout.socket()), None);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(status) = client.get::<Value>("/api/status").await {
            assert_eq!(
                status["backend"], "systemd",
                "the daemon must use systemd here"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the daemon did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    DaemonProcess { child, client }
}

fn is_active(unit: &str) -> String {
    let out = sandbox::cmd_output("systemctl", &["is-active", unit]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn main_pid(unit: &str) -> u32 {
    sandbox::cmd("systemctl", &["show", "-p", "MainPID", "--value", unit])
        .trim()
        .parse()
        .unwrap()
}

/// `POST …/route/counter/increment` of an example plugin: its new count.
async fn increment_counter(client: &Client, id: &str) -> Value {
    client
        .send_json(
            Method::POST,
            &format!("/api/plugins/{id}/route/counter/increment"),
            &json!({}),
        )
        .await
        .unwrap()
}

fn install_hello(layout: &Layout) {
    std::fs::create_dir_all(layout.plugins()).unwrap();
    let bytes = std::fs::read(fixtures::hello_rust()).unwrap();
    sandbox::install_file(&layout.plugins(), "hello-rust.binary", &bytes);
}

/// Installs `tests/fixtures/hungry_plugin.py` as `<mode>.binary`, with the Python SDK next to
/// the plugins (the sandbox sees the target directory, not the source tree, so both are
/// compiled in).
fn install_hungry(layout: &Layout, mode: &str) {
    const FIXTURE: &str = include_str!("fixtures/hungry_plugin.py");
    const SDK: &str = include_str!("../../examples/hello-plugin-python/toru_plugin.py");
    let sdk = layout.root.join("python-sdk");
    std::fs::create_dir_all(&sdk).unwrap();
    sandbox::install_file(&sdk, "toru_plugin.py", SDK.as_bytes());
    std::fs::create_dir_all(layout.plugins()).unwrap();
    let text = FIXTURE.replace("@SDK@", sdk.to_str().unwrap());
    sandbox::install_file(
        &layout.plugins(),
        &format!("{mode}.binary"),
        text.as_bytes(),
    );
}

const MIB: u64 = 1024 * 1024;

/// Whether the sandbox's cgroup tree has `controller`. On a host whose memory and pids
/// controllers are bound to cgroup v1 (this machine kind: a hybrid layout), the sandbox's
/// cgroup2 tree has only `cpu`-time accounting, so systemd reads `MemoryCurrent` and
/// `TasksCurrent` as "not available" and cannot enforce `MemoryMax=`.
fn has_controller(controller: &str) -> bool {
    std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
        .unwrap_or_default()
        .split_whitespace()
        .any(|c| c == controller)
}

#[test]
fn a_units_figures_come_from_its_cgroup_and_its_limits_are_unit_properties() {
    in_sandbox(
        "a_units_figures_come_from_its_cgroup_and_its_limits_are_unit_properties",
        || async {
            let layout = Layout::new();
            install_hungry(&layout, "hungry");
            let d = start_daemon(&layout).await;
            let unit = "toru-plugin-hungry.service";
            let limits = json!({"memory": "512M", "cpu": "150%", "tasks": 64});
            let _: Value = d
                .client
                .send_json(Method::PUT, "/api/plugins/hungry/limits", &limits)
                .await
                .unwrap();
            enable(&d.client, "hungry").await;
            let show = |p: &str| sandbox::cmd("systemctl", &["show", "-p", p, "--value", unit]);
            assert_eq!(show("MemoryMax").trim(), (512 * MIB).to_string());
            assert_eq!(show("CPUQuotaPerSecUSec").trim(), "1.500000s");
            assert_eq!(show("TasksMax").trim(), "64");
            assert_eq!(show("MemoryAccounting").trim(), "yes");

            let memory = has_controller("memory");
            let pids = has_controller("pids");
            let deadline = Instant::now() + Duration::from_secs(30);
            let usage = loop {
                let usage: Value = d.client.get("/api/plugins/hungry/usage").await.unwrap();
                let c = &usage["current"];
                let memory_there = !memory || c["memory_bytes"].as_u64().unwrap_or(0) >= 64 * MIB;
                if memory_there && c["cpu_seconds"].as_f64().unwrap_or(0.0) >= 1.0 {
                    break usage;
                }
                assert!(
                    Instant::now() < deadline,
                    "figures never got there: {usage:#}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            };
            let c = &usage["current"];
            if memory {
                assert!(c["memory_bytes"].as_u64().unwrap() < 200 * MIB, "{c}");
            } else {
                // systemd's u64::MAX ("not available") is null, never a huge number.
                eprintln!("no memory controller in this cgroup tree: memory is not available");
                assert_eq!(c["memory_bytes"], Value::Null, "{c}");
            }
            if pids {
                assert!(c["tasks"].as_u64().unwrap() >= 1, "{c}");
            } else {
                assert_eq!(c["tasks"], Value::Null, "{c}");
            }
        },
    );
}

#[test]
fn a_plugin_killed_at_its_memory_limit_is_reported_as_over_it() {
    in_sandbox(
        "a_plugin_killed_at_its_memory_limit_is_reported_as_over_it",
        || async {
            // Without the memory controller the limit cannot be enforced, so there is no OOM
            // kill to report: said loudly, and the limit is still checked to be on the unit.
            let enforced = has_controller("memory");
            let layout = Layout::new();
            install_hungry(&layout, "greedy");
            let d = start_daemon(&layout).await;
            let _: Value = d
                .client
                .send_json(
                    Method::PUT,
                    "/api/plugins/greedy/limits",
                    &json!({"memory": "64M"}),
                )
                .await
                .unwrap();
            let _: Value = d
                .client
                .send_json(Method::POST, "/api/plugins/greedy/enable", &json!({}))
                .await
                .unwrap();
            if !enforced {
                eprintln!(
                    "NOT TESTED HERE: no memory controller in this cgroup tree (cgroup v1 host), \
                     so MemoryMax= is not enforced and no OOM kill can happen"
                );
                wait_state(&d.client, "greedy", "running").await;
                let max = sandbox::cmd(
                    "systemctl",
                    &[
                        "show",
                        "-p",
                        "MemoryMax",
                        "--value",
                        "toru-plugin-greedy.service",
                    ],
                );
                assert_eq!(max.trim(), (64 * MIB).to_string());
                return;
            }
            let wanted = "exceeded its 64 MiB memory limit";
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let events: Vec<Value> = d
                    .client
                    .get("/api/events?plugin=greedy&kind=crashed")
                    .await
                    .unwrap();
                if events
                    .iter()
                    .any(|e| e["details"].as_str().is_some_and(|t| t.contains(wanted)))
                {
                    break;
                }
                assert!(Instant::now() < deadline, "no OOM crash: {events:#?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let p: Value = d.client.get("/api/plugins/greedy").await.unwrap();
            let last_error = p["status"]["last_error"].as_str().unwrap_or_default();
            assert!(last_error.contains(wanted), "{p:#}");
            assert!(!last_error.contains("signal 9"), "{p:#}");
        },
    );
}

#[test]
fn enable_runs_a_unit_that_serves_and_logs_to_the_journal() {
    in_sandbox(
        "enable_runs_a_unit_that_serves_and_logs_to_the_journal",
        || async {
            let layout = Layout::new();
            install_hello(&layout);
            let d = start_daemon(&layout).await;
            let unit = "toru-plugin-hello-rust.service";
            let p = enable(&d.client, "hello-rust").await;
            assert_eq!(p["status"]["unit"], unit);
            assert_eq!(is_active(unit), "active", "visible in systemctl");
            assert_eq!(p["status"]["pid"].as_u64().unwrap() as u32, main_pid(unit));

            let greeting: Value = d
                .client
                .get("/api/plugins/hello-rust/route/greeting")
                .await
                .unwrap();
            assert_eq!(
                greeting["message"], "Hello, root!",
                "forwarded with the local user"
            );

            // The plugin's own line, through journalctl and through the logs API.
            let instance = d.client.get::<Value>("/api/status").await.unwrap()["instance_id"]
                .as_str()
                .unwrap()
                .to_owned();
            let wanted = format!("initialised for instance {instance}");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let journal = sandbox::cmd("journalctl", &["-u", unit, "--no-pager", "-o", "cat"]);
                let page: Value = d
                    .client
                    .get("/api/plugins/hello-rust/logs?page_size=50")
                    .await
                    .unwrap();
                let via_api = page["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| {
                        e["message"]
                            .as_str()
                            .is_some_and(|m| m.starts_with(&wanted))
                    })
                    .cloned();
                if journal.contains(&wanted)
                    && let Some(entry) = via_api
                {
                    assert_eq!(
                        entry["level"], "info",
                        "<6> prefix mapped to a priority and back"
                    );
                    assert_eq!(entry["plugin"], "hello-rust");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "journal: {journal}\napi: {page:#}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Level filter on the journal: no info lines at `error`.
            let errors: Value = d
                .client
                .get("/api/plugins/hello-rust/logs?level=error")
                .await
                .unwrap();
            assert!(
                errors["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|e| e["level"] == "error")
            );

            // A setting reaches the unit's process in its next lifecycle.init (a new unit).
            let pid = main_pid(unit);
            let _: Value = d
                .client
                .send_json(
                    Method::PUT,
                    "/api/plugins/hello-rust/config",
                    &json!({"greeting": "Ahoy"}),
                )
                .await
                .unwrap();
            wait_restarted(&d.client, "hello-rust", u64::from(pid)).await;
            let greeting: Value = d
                .client
                .get("/api/plugins/hello-rust/route/greeting")
                .await
                .unwrap();
            assert_eq!(
                greeting["message"], "Ahoy, root!",
                "the setting, under systemd"
            );

            let p: Value = d
                .client
                .send_json(Method::POST, "/api/plugins/hello-rust/disable", &json!({}))
                .await
                .unwrap();
            assert_eq!(p["status"]["state"], "disabled");
            assert_ne!(is_active(unit), "active", "the unit is stopped");
            let r = d
                .client
                .raw(Method::GET, "/api/plugins/hello-rust/route/greeting", None)
                .await
                .unwrap();
            assert_eq!(r.status, http::StatusCode::NOT_FOUND);
        },
    );
}

#[test]
fn a_crashing_unit_backs_off_1_2_and_is_given_up_after_3() {
    in_sandbox(
        "a_crashing_unit_backs_off_1_2_and_is_given_up_after_3",
        || async {
            let layout = Layout::new();
            std::fs::create_dir_all(layout.plugins()).unwrap();
            let meta = fixtures::metadata_json("crasher");
            let script = format!(
                "#!/bin/sh\nif [ \"$1\" = --metadata ]; then echo '{meta}'; exit 0; fi\necho '<3>crashing' >&2\necho 'Traceback: boom' >&2\nexit 1\n"
            );
            sandbox::install_file(&layout.plugins(), "crasher.binary", script.as_bytes());
            let d = start_daemon(&layout).await;
            let _: Value = d
                .client
                .send_json(Method::POST, "/api/plugins/crasher/enable", &json!({}))
                .await
                .unwrap();
            let p = wait_state(&d.client, "crasher", "failed").await;
            assert_eq!(p["status"]["enabled"], false);
            let events: Value = d
                .client
                .get("/api/events?plugin=crasher&limit=100")
                .await
                .unwrap();
            let mut events = events.as_array().unwrap().clone();
            events.reverse();
            let summary: Vec<String> = events
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["kind"].as_str().unwrap(),
                        e["details"].as_str().unwrap()
                    )
                })
                .collect();
            let restarts: Vec<&String> = summary
                .iter()
                .filter(|s| s.starts_with("restarting"))
                .collect();
            assert_eq!(
                restarts,
                ["restarting: restart 1 in 1s", "restarting: restart 2 in 2s"],
                "{summary:#?}"
            );
            let crashes: Vec<&Value> = events.iter().filter(|e| e["kind"] == "crashed").collect();
            assert_eq!(crashes.len(), 3, "{summary:#?}");
            assert!(
                crashes
                    .iter()
                    .all(|e| e["details"].as_str().unwrap().contains("status 1")),
                "exit status read from systemd's signals: {summary:#?}"
            );
            let at = |i: usize| crashes[i]["at_unix_ms"].as_i64().unwrap();
            assert!(
                at(1) - at(0) >= 1000 && at(2) - at(1) >= 2000,
                "{summary:#?}"
            );
            assert!(
                summary.last().unwrap().starts_with("gave_up"),
                "{summary:#?}"
            );
            // The unit's own stderr is in the journal.
            let journal = sandbox::cmd(
                "journalctl",
                &[
                    "-u",
                    "toru-plugin-crasher.service",
                    "--no-pager",
                    "-o",
                    "cat",
                ],
            );
            assert!(journal.contains("crashing"), "{journal}");
            // Its unprefixed last words are a warning (SyslogLevel=), found by level.
            let warnings: Value = d
                .client
                .get("/api/plugins/crasher/logs?level=warn&page_size=50")
                .await
                .unwrap();
            let boom = warnings["entries"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["message"] == "Traceback: boom")
                .unwrap_or_else(|| panic!("no unprefixed line at warn: {warnings:#}"));
            assert_eq!(boom["level"], "warn");
        },
    );
}

#[test]
fn adoption_after_kill_9_keeps_the_unit_and_reconnects() {
    in_sandbox(
        "adoption_after_kill_9_keeps_the_unit_and_reconnects",
        || async {
            let layout = Layout::new();
            install_hello(&layout);
            let unit = "toru-plugin-hello-rust.service";
            let mut d = start_daemon(&layout).await;
            enable(&d.client, "hello-rust").await;
            increment_counter(&d.client, "hello-rust").await;
            let pid = main_pid(unit);

            // kill -9 the daemon: the transient unit outlives it.
            d.child.kill().unwrap();
            d.child.wait().unwrap();
            assert_eq!(is_active(unit), "active");
            assert_eq!(main_pid(unit), pid);

            let d = start_daemon(&layout).await;
            let p = wait_state(&d.client, "hello-rust", "running").await;
            assert_eq!(main_pid(unit), pid, "adopted, not restarted");
            assert_eq!(p["status"]["pid"].as_u64().unwrap() as u32, pid);
            let count: Value = d
                .client
                .get("/api/plugins/hello-rust/route/counter")
                .await
                .unwrap();
            assert_eq!(count["count"], 1, "reconnected to the same process");
            let events: Value = d.client.get("/api/events?plugin=hello-rust").await.unwrap();
            assert_eq!(events[0]["kind"], "adopted");
            drop(d);

            // A unit whose plugin is no longer enabled is stopped by the next daemon.
            let state = layout.plugins().join(".metadata/config.json");
            std::fs::write(
                &state,
                r#"{"version":1,"plugins":{"hello-rust":{"enabled":false}}}"#,
            )
            .unwrap();
            assert_eq!(is_active(unit), "active");
            let _d = start_daemon(&layout).await;
            assert_ne!(is_active(unit), "active", "leftover unit stopped at start");
        },
    );
}

/// The major version of the systemd the test runs under (252 in Debian 12, 257 in Debian 13).
fn systemd_version() -> u32 {
    let out = sandbox::cmd("systemctl", &["--version"]);
    out.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the systemd version from {out:?}"))
}

/// Waits (up to `limit`) until `unit` runs a main process other than `old_pid`; returns it.
async fn wait_new_main_pid(unit: &str, old_pid: u32, limit: Duration) -> u32 {
    let deadline = Instant::now() + limit;
    loop {
        let pid = main_pid(unit);
        if is_active(unit) == "active" && pid != 0 && pid != old_pid {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{unit} did not run again within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_plugin_killed_while_the_daemon_is_stopped_is_restarted_by_systemd_from_254() {
    in_sandbox(
        "a_plugin_killed_while_the_daemon_is_stopped_is_restarted_by_systemd_from_254",
        || async {
            let version = systemd_version();
            let by_systemd = version >= 254;
            println!(
                "systemd {version}: restarts by {}",
                if by_systemd { "systemd" } else { "the daemon" }
            );
            let layout = Layout::new();
            install_hello(&layout);
            let unit = "toru-plugin-hello-rust.service";
            let d = start_daemon(&layout).await;
            enable(&d.client, "hello-rust").await;
            let restart = sandbox::cmd("systemctl", &["show", "-p", "Restart", "--value", unit]);
            assert_eq!(
                restart.trim(),
                if by_systemd { "on-failure" } else { "no" },
                "systemd {version}"
            );
            increment_counter(&d.client, "hello-rust").await;
            let pid = main_pid(unit);

            // A clean stop of the daemon leaves the unit running for the next one.
            let daemon_pid = d.child.id().to_string();
            sandbox::cmd("kill", &["-TERM", &daemon_pid]);
            let mut d = d;
            d.child.wait().unwrap();
            drop(d);
            assert_eq!(main_pid(unit), pid);

            let killed = Instant::now();
            sandbox::cmd("kill", &["-KILL", &pid.to_string()]);
            let new_pid = if by_systemd {
                let new_pid = wait_new_main_pid(unit, pid, Duration::from_secs(10)).await;
                println!(
                    "[figure] systemd {version}: kill -9 -> running again in {:?} without the daemon",
                    killed.elapsed()
                );
                let n = sandbox::cmd("systemctl", &["show", "-p", "NRestarts", "--value", unit]);
                assert_eq!(n.trim(), "1", "one restart by systemd");
                Some(new_pid)
            } else {
                // systemd 252 cannot grow the delay, so it leaves restarts to the daemon.
                tokio::time::sleep(Duration::from_secs(2)).await;
                assert_ne!(
                    is_active(unit),
                    "active",
                    "systemd {version} must not restart it"
                );
                None
            };

            let d = start_daemon(&layout).await;
            let p = wait_state(&d.client, "hello-rust", "running").await;
            let events: Value = d.client.get("/api/events?plugin=hello-rust").await.unwrap();
            let running_pid = p["status"]["pid"].as_u64().unwrap() as u32;
            if let Some(new_pid) = new_pid {
                assert_eq!(running_pid, new_pid, "adopted what systemd restarted");
                assert_eq!(main_pid(unit), new_pid, "not restarted again");
                assert_eq!(events[0]["kind"], "adopted", "{events:#}");
                assert_eq!(
                    p["status"]["restarts"], 1,
                    "the restart made while away is counted"
                );
            } else {
                assert_ne!(running_pid, pid);
                assert_eq!(events[0]["kind"], "started", "{events:#}");
            }
            let count: Value = d
                .client
                .get("/api/plugins/hello-rust/route/counter")
                .await
                .unwrap();
            assert_eq!(count["count"], 1, "its KV survived");
        },
    );
}

#[test]
fn both_examples_run_sandboxed_and_survive_kill_9_with_their_kv() {
    in_sandbox(
        "both_examples_run_sandboxed_and_survive_kill_9_with_their_kv",
        || async {
            let layout = Layout::new();
            std::fs::create_dir_all(layout.plugins()).unwrap();
            let built = fixtures::example_plugins();
            for name in ["hello-rust.binary", "hello-python.binary"] {
                sandbox::install_file(
                    &layout.plugins(),
                    name,
                    &std::fs::read(built.join(name)).unwrap(),
                );
            }
            let d = start_daemon(&layout).await;
            for id in ["hello-rust", "hello-python"] {
                let unit = format!("toru-plugin-{id}.service");
                enable(&d.client, id).await;
                assert_eq!(is_active(&unit), "active", "{id}");
                let show = sandbox::cmd(
                    "systemctl",
                    &["show", "-p", "DynamicUser", "-p", "ProtectSystem", &unit],
                );
                assert!(
                    show.contains("DynamicUser=yes") && show.contains("ProtectSystem=strict"),
                    "{show}"
                );
                for expected in 1..=2 {
                    let c = increment_counter(&d.client, id).await;
                    assert_eq!(c["count"], expected, "{id}");
                }
                let bundle = d
                    .client
                    .raw(Method::GET, &format!("/api/plugins/{id}/bundle.js"), None)
                    .await
                    .unwrap();
                assert_eq!(bundle.status, http::StatusCode::OK, "{id}");
                assert!(
                    String::from_utf8_lossy(&bundle.body).contains("mount"),
                    "{id}"
                );

                let pid = main_pid(&unit);
                let killed = Instant::now();
                sandbox::cmd("kill", &["-KILL", &pid.to_string()]);
                let p = wait_restarted(&d.client, id, pid as u64).await;
                println!(
                    "[figure] systemd {}: {id} kill -9 -> running and connected again in {:?}",
                    systemd_version(),
                    killed.elapsed()
                );
                assert_eq!(p["status"]["restarts"], 1, "{id}");
                let c: Value = d
                    .client
                    .get(&format!("/api/plugins/{id}/route/counter"))
                    .await
                    .unwrap();
                assert_eq!(c["count"], 2, "{id}: KV kept across the restart");
            }
        },
    );
}

#[test]
fn the_local_socket_admits_root_and_group_toru_and_refuses_others() {
    in_sandbox(
        "the_local_socket_admits_root_and_group_toru_and_refuses_others",
        || async {
            // Users and groups made inside the sandbox's overlay, never on the host.
            sandbox::cmd("groupadd", &["--system", "toru"]);
            sandbox::cmd(
                "useradd",
                &["--no-create-home", "--groups", "toru", "alice"],
            );
            sandbox::cmd("useradd", &["--no-create-home", "bob"]);
            let layout = Layout::new();
            install_hello(&layout);
            let _d = start_daemon(&layout).await;
            let socket = layout.socket();
            let ls = sandbox::cmd("stat", &["-c", "%a %G", socket.to_str().unwrap()]);
            assert_eq!(ls.trim(), "660 toru", "the socket belongs to group toru");

            let toructl = fixtures::toructl();
            let as_user = |user: &str| {
                Command::new("setpriv")
                    .args([
                        &format!("--reuid={user}"),
                        &format!("--regid={user}"),
                        "--init-groups",
                    ])
                    .arg(&toructl)
                    .arg("--socket")
                    .arg(&socket)
                    .arg("status")
                    .output()
                    .unwrap()
            };
            let alice = as_user("alice");
            assert!(
                alice.status.success(),
                "group toru may: {}",
                String::from_utf8_lossy(&alice.stderr)
            );
            assert!(String::from_utf8_lossy(&alice.stdout).contains("you         alice"));

            // bob cannot even open the socket (0660, group toru)...
            let bob = as_user("bob");
            assert_eq!(
                bob.status.code(),
                Some(3),
                "{}",
                String::from_utf8_lossy(&bob.stderr)
            );
            // ...and if the file mode let him, the daemon's credential check still would not.
            sandbox::cmd("chmod", &["666", socket.to_str().unwrap()]);
            let bob = as_user("bob");
            assert_eq!(bob.status.code(), Some(1));
            assert!(
                String::from_utf8_lossy(&bob.stderr).contains("bob may not use the local socket")
            );
        },
    );
}

/// `signatures = "enforce"` under systemd (docs/signing.md): a plugin signed with
/// `toru-license sign` by a trusted key runs, as its unit's dynamic user, from the daemon's
/// verified copy in `<data dir>/verified/`; an unsigned one is refused at discovery.
#[test]
fn enforce_runs_a_signed_plugin_from_its_verified_copy_and_refuses_an_unsigned_one() {
    if !sandbox::is_inner() {
        fixtures::workspace_binary("toru-license", "toru-license");
    }
    in_sandbox(
        "enforce_runs_a_signed_plugin_from_its_verified_copy_and_refuses_an_unsigned_one",
        || async {
            let layout = Layout::new();
            install_hello(&layout);
            let meta = fixtures::metadata_json("unsigned");
            let script = format!(
                "#!/bin/sh\nif [ \"$1\" = --metadata ]; then echo '{meta}'; exit 0; fi\nsleep 60\n"
            );
            sandbox::install_file(&layout.plugins(), "unsigned.binary", script.as_bytes());
            // Compiled in: the sandbox sees the target directory, not the source tree (a
            // Debian 13 root has no /work at all).
            const DEMO_KEY: &[u8] = include_bytes!("../../examples/demo-vendor/ed25519.key");
            const DEMO_PUB: &[u8] = include_bytes!("../../examples/demo-vendor/ed25519.key.pub");
            let key = layout.root.join("vendor.key");
            std::fs::write(&key, DEMO_KEY).unwrap();
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            let signed = Command::new(fixtures::workspace_binary("toru-license", "toru-license"))
                .arg("sign")
                .arg("--key")
                .arg(&key)
                .arg(layout.plugins().join("hello-rust.binary"))
                .output()
                .unwrap();
            assert!(signed.status.success(), "{signed:?}");
            let trusted = layout.root.join("trusted-keys");
            std::fs::create_dir_all(&trusted).unwrap();
            std::fs::write(trusted.join("acme.pub"), DEMO_PUB).unwrap();

            let trusted = trusted.to_str().unwrap().to_owned();
            let d = start_daemon_with(
                &layout,
                &["--signatures", "enforce", "--trusted-keys-dir", &trusted],
            )
            .await;
            let failures: Value = d.client.get("/api/discovery-failures").await.unwrap();
            let failures = failures.as_array().unwrap();
            assert!(
                failures.iter().any(
                    |f| f["binary"].as_str().unwrap().ends_with("unsigned.binary")
                        && f["reason"].as_str().unwrap().contains("unsigned")
                ),
                "{failures:#?}"
            );

            let p = enable(&d.client, "hello-rust").await;
            assert_eq!(p["signature"], json!({"state": "signed", "key": "acme"}));
            let unit = "toru-plugin-hello-rust.service";
            let exec = sandbox::cmd("systemctl", &["show", "-p", "ExecStart", "--value", unit]);
            let verified = layout.root.join("data/verified");
            assert!(
                exec.contains(&format!("path={}/", verified.display())),
                "{exec}"
            );
            let exe = std::fs::read_link(format!("/proc/{}/exe", main_pid(unit))).unwrap();
            assert_eq!(exe.parent(), Some(verified.as_path()));
            let greeting: Value = d
                .client
                .get("/api/plugins/hello-rust/route/greeting")
                .await
                .unwrap();
            assert_eq!(greeting["message"], "Hello, root!", "the copy serves");
        },
    );
}

#[test]
fn an_uploaded_plugin_runs_as_a_unit_and_an_upgrade_that_crashes_is_rolled_back() {
    in_sandbox(
        "an_uploaded_plugin_runs_as_a_unit_and_an_upgrade_that_crashes_is_rolled_back",
        || async {
            let layout = Layout::new();
            std::fs::create_dir_all(layout.plugins()).unwrap();
            let d = start_daemon(&layout).await;
            let upload = |bytes: Vec<u8>| {
                let client = d.client.clone();
                async move {
                    client
                        .request(
                            Method::POST,
                            "/api/plugins",
                            &[("content-type", "application/octet-stream")],
                            Some(bytes),
                        )
                        .await
                        .unwrap()
                }
            };
            // Installed through the API, its --metadata run in a toru-metadata unit.
            let v1 = std::fs::read(fixtures::hello_rust()).unwrap();
            let installed: toru_api::InstallResult = upload(v1.clone()).await.json().unwrap();
            assert_eq!(installed.outcome, toru_api::InstallOutcome::Installed);
            let version = installed.plugin.version.clone();
            let running = enable(&d.client, "hello-rust").await;
            let old_pid = running["status"]["pid"].as_u64().unwrap();
            assert_eq!(is_active("toru-plugin-hello-rust.service"), "active");

            // A new version of hello-rust that crashes whenever it is started.
            let meta = r#"{"id":"hello-rust","name":"Hello","version":"9.9.9","route":"/hello-rust","protocol_version":1}"#;
            let crasher = format!(
                "#!/bin/sh\nif [ \"$1\" = --metadata ]; then echo '{meta}'; exit 0; fi\necho '<3>crashing' >&2\nexit 1\n"
            );
            let failed = upload(crasher.into_bytes()).await;
            let body = String::from_utf8_lossy(&failed.body).into_owned();
            assert_eq!(failed.status.as_u16(), 422, "{body}");
            assert!(body.contains("rolled back"), "{body}");

            // The previous binary is back and runs again, in a new unit.
            let installed_file = layout.plugins().join("hello-rust.binary");
            assert_eq!(std::fs::read(&installed_file).unwrap(), v1);
            let back = wait_restarted(&d.client, "hello-rust", old_pid).await;
            assert_eq!(back["version"], version.as_str());
            assert_eq!(is_active("toru-plugin-hello-rust.service"), "active");
            let counted = increment_counter(&d.client, "hello-rust").await;
            assert!(counted["count"].as_u64().is_some(), "{counted}");
            let events: Value = d
                .client
                .get("/api/events?plugin=hello-rust&kind=upgrade_failed")
                .await
                .unwrap();
            assert_eq!(events.as_array().unwrap().len(), 1, "{events:#}");
        },
    );
}
