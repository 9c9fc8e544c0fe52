//! Per-plugin resource figures and limits against a real daemon (`Daemon::start`, embedded
//! backend): a fixture plugin that touches 64 MiB and burns 1.5 s of CPU shows those figures in
//! `GET /api/plugins/{id}/usage`, the plugin list and `toructl`; limits are merged, reset,
//! refused with `invalid_limits`, applied to the process (`RLIMIT_AS`, `RLIMIT_NPROC`) and kept
//! across a daemon restart. The same figures under systemd are in `systemd_daemon.rs`.

mod support;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::api::{ApiDaemon, enable, error_code, test_config, wait_restarted};
use support::ctl::{ctl, ok};
use support::fixtures::install_python_fixture;
use support::harness::Dirs;
use toructl::Client;

const MIB: u64 = 1024 * 1024;

/// Polls the plugin's usage until `done` holds (at most 30 s; the sampler may be up to its
/// interval behind, but the route reads afresh when its reading is older than that).
async fn usage_until(client: &Client, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let usage: Value = client
            .get(&format!("/api/plugins/{id}/usage"))
            .await
            .unwrap();
        if done(&usage) {
            return usage;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id}'s figures never got there: {usage:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

async fn put_limits(client: &Client, id: &str, body: Value) -> (StatusCode, Vec<u8>) {
    let r = client
        .raw(
            Method::PUT,
            &format!("/api/plugins/{id}/limits"),
            Some(body.to_string().into_bytes()),
        )
        .await
        .unwrap();
    (r.status, r.body.to_vec())
}

/// A `NAME  LIMIT` line of `/proc/<pid>/limits`, as the soft limit's text.
fn proc_limit(pid: u64, name: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    line[name.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_figures_of_a_plugin_that_allocates_and_burns_a_known_amount() {
    let dirs = Dirs::new();
    install_python_fixture(&dirs.plugins(), "hungry_plugin.py", "hungry");
    let d = ApiDaemon::start(&dirs).await;
    d.create_admin().await;
    let s = d.login().await;

    // Not running: no figures, and the list has no `usage`.
    let usage: Value = s.get("/api/plugins/hungry/usage").await.unwrap();
    assert_eq!(usage["current"], Value::Null);
    assert_eq!(usage["interval_secs"], 10);
    enable(&s, "hungry").await;

    let usage = usage_until(&s, "hungry", |u| {
        let c = &u["current"];
        c["memory_bytes"].as_u64().unwrap_or(0) >= 64 * MIB
            && c["cpu_seconds"].as_f64().unwrap_or(0.0) >= 1.0
    })
    .await;
    let current = &usage["current"];
    let memory = current["memory_bytes"].as_u64().unwrap();
    assert!(
        memory < 200 * MIB,
        "64 MiB touched, Python around it: {memory}"
    );
    let cpu_seconds = current["cpu_seconds"].as_f64().unwrap();
    assert!(cpu_seconds < 30.0, "1.5 s burnt, not more: {cpu_seconds}");
    assert!(current["tasks"].as_u64().unwrap() >= 1, "{current}");
    assert_eq!(current["restarts"], 0);
    let history = usage["history"].as_array().unwrap();
    assert!(!history.is_empty() && history.len() <= 360, "{usage:#}");
    assert!(history.iter().all(|h| h["at"].as_u64().unwrap() > 0));

    // The list and the details carry the same figures.
    let list: Vec<Value> = s.get("/api/plugins").await.unwrap();
    let listed = list.iter().find(|p| p["id"] == "hungry").unwrap();
    assert!(listed["usage"]["memory_bytes"].as_u64().unwrap() >= 64 * MIB);

    // toructl: the list's columns, show's lines, and top's plain snapshots.
    let listed = ctl(&d, &["plugin", "list"]).await;
    ok(&listed, "plugin list");
    let row: Vec<&str> = listed
        .stdout
        .lines()
        .find(|l| l.starts_with("hungry\t"))
        .unwrap()
        .split('\t')
        .collect();
    assert_eq!(row.len(), 11, "{row:?}");
    assert!(row[7].ends_with("MiB"), "MEM column: {row:?}");
    assert_ne!(row[9], "-", "TASKS column: {row:?}");
    let shown = ctl(&d, &["plugin", "show", "hungry"]).await;
    ok(&shown, "plugin show");
    assert!(shown.stdout.contains("memory      "), "{}", shown.stdout);
    assert!(shown.stdout.contains("s in total)"), "{}", shown.stdout);
    assert!(
        shown
            .stdout
            .contains("limits      memory -, cpu -, tasks -"),
        "{}",
        shown.stdout
    );
    let top = ctl(&d, &["top", "-n", "2", "--sort", "cpu"]).await;
    ok(&top, "top");
    let frames: Vec<&str> = top.stdout.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.len(), 2, "two snapshots: {}", top.stdout);
    assert!(frames.iter().all(|f| f.starts_with("hungry\trunning\t")));

    // Disabled: no figures any more.
    let _: Value = s
        .send_json(Method::POST, "/api/plugins/hungry/disable", &json!({}))
        .await
        .unwrap();
    let p: Value = s.get("/api/plugins/hungry").await.unwrap();
    assert_eq!(p["usage"], Value::Null, "{p:#}");
    d.stop().await;
}

#[tokio::test]
async fn limits_merge_reset_refuse_bad_values_apply_and_persist() {
    let dirs = Dirs::new();
    install_python_fixture(&dirs.plugins(), "hungry_plugin.py", "idle");
    let mut config = test_config(&dirs);
    config.plugin_memory_max = Some(1024 * MIB);
    config.plugin_tasks_max = Some(512);
    let d = ApiDaemon::start_with(config.clone()).await;
    d.create_admin().await;
    d.create_user("watcher", "viewer").await;
    let s = d.login().await;

    let limits: Value = s.get("/api/plugins/idle/limits").await.unwrap();
    let defaults =
        json!({"memory_max_bytes": 1024 * MIB, "cpu_quota_percent": null, "tasks_max": 512});
    assert_eq!(limits["defaults"], defaults);
    assert_eq!(limits["effective"], defaults);
    let p = enable(&s, "idle").await;
    let pid = p["status"]["pid"].as_u64().unwrap();
    assert_eq!(
        proc_limit(pid, "Max address space"),
        (1024 * MIB).to_string()
    );

    // Hostile values: each a 400 naming the limit, and nothing changes.
    for (body, limit) in [
        (json!({"memory": "-1"}), "memory"),
        (json!({"memory": "999999999999T"}), "memory"),
        (json!({"memory": 0}), "memory"),
        (json!({"cpu": "0%"}), "cpu"),
        (json!({"cpu": "200000%"}), "cpu"),
        (json!({"cpu": "fast"}), "cpu"),
        (json!({"tasks": 0}), "tasks"),
        (json!({"tasks": "64", "memory": "lots"}), "memory"),
    ] {
        let (status, answer) = put_limits(&s, "idle", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(&answer), "invalid_limits", "{body}");
        let message: Value = serde_json::from_slice(&answer).unwrap();
        assert!(
            message["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{limit}: ")),
            "{message}"
        );
    }
    let (status, answer) = put_limits(&s, "idle", json!({"disk": "1G"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown limit");
    assert_ne!(error_code(&answer), "invalid_limits");
    let unchanged: Value = s.get("/api/plugins/idle/limits").await.unwrap();
    assert_eq!(
        unchanged["overrides"],
        json!({"memory_max_bytes": null, "cpu_quota_percent": null, "tasks_max": null})
    );

    // A viewer may look but not change.
    let viewer = d.login_as("watcher", support::api::PASSWORD).await;
    let _: Value = viewer.get("/api/plugins/idle/limits").await.unwrap();
    let (status, _) = put_limits(&viewer, "idle", json!({"memory": "256M"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Merge: the named limits change, the plugin restarts under them.
    let (status, answer) = put_limits(&s, "idle", json!({"memory": "256M", "cpu": "50%"})).await;
    assert_eq!(status, StatusCode::OK);
    let limits: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(
        limits["effective"],
        json!({"memory_max_bytes": 256 * MIB, "cpu_quota_percent": 50, "tasks_max": 512})
    );
    let p = wait_restarted(&s, "idle", pid).await;
    let pid = p["status"]["pid"].as_u64().unwrap();
    assert_eq!(
        proc_limit(pid, "Max address space"),
        (256 * MIB).to_string()
    );
    let (status, answer) = put_limits(&s, "idle", json!({"tasks": 64})).await;
    assert_eq!(status, StatusCode::OK);
    let limits: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(limits["overrides"]["memory_max_bytes"], 256 * MIB, "kept");
    assert_eq!(limits["effective"]["tasks_max"], 64);
    let p = wait_restarted(&s, "idle", pid).await;
    let pid = p["status"]["pid"].as_u64().unwrap();
    assert_eq!(proc_limit(pid, "Max processes"), "64");

    // Every change is in the audit trail.
    let events: Vec<Value> = s
        .get("/api/events?plugin=idle&kind=limits_changed")
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(
        events[0]["details"].as_str().unwrap().contains("tasks=64"),
        "{events:#?}"
    );

    // Kept across a daemon restart.
    d.stop().await;
    let d = ApiDaemon::start_with(config).await;
    let s = d.login().await;
    let limits: Value = s.get("/api/plugins/idle/limits").await.unwrap();
    assert_eq!(
        limits["overrides"],
        json!({"memory_max_bytes": 256 * MIB, "cpu_quota_percent": 50, "tasks_max": 64})
    );

    // null resets to the default; toructl does the same with NAME=default.
    let (status, answer) = put_limits(&s, "idle", json!({"memory": null})).await;
    assert_eq!(status, StatusCode::OK);
    let limits: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(limits["effective"]["memory_max_bytes"], 1024 * MIB);
    let reset = ctl(
        &d,
        &["plugin", "limits", "idle", "cpu=default", "tasks=default"],
    )
    .await;
    ok(&reset, "plugin limits reset");
    assert!(
        reset
            .stdout
            .contains("effective   memory 1 GiB, cpu -, tasks 512"),
        "{}",
        reset.stdout
    );
    let bad = ctl(&d, &["plugin", "limits", "idle", "memory=-1"]).await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("memory"), "{}", bad.stderr);
    let set = ctl(&d, &["plugin", "limits", "idle", "memory=512M"]).await;
    ok(&set, "plugin limits set");
    assert!(
        set.stdout
            .contains("override    memory 512 MiB, cpu -, tasks -"),
        "{}",
        set.stdout
    );
    d.stop().await;
}
