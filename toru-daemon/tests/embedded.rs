//! The daemon core over the embedded backend: real plugin processes, real sockets, a real
//! SQLite file.

mod support;

use std::time::{Duration, Instant};

use support::fixtures::{self, crashing_plugin, hello_rust, install, metadata_json, script};
use support::harness::{Dirs, Harness, admin, alive, test_settings};
use toru_daemon::plugins::{ForwardError, PluginState};
use toru_daemon::store::EventKind;
use toru_plugin_api::HttpRequest;

fn get(path: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        path: path.into(),
        ..HttpRequest::default()
    }
}

fn post(path: &str) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        ..get(path)
    }
}

fn json(response: &toru_plugin_api::HttpResponse) -> serde_json::Value {
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    serde_json::from_slice(&response.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_plugins_dir_is_created_and_an_empty_one_is_fine() {
    let dirs = Dirs::new();
    assert!(!dirs.plugins().exists());
    let h = Harness::start(&dirs).await;
    assert!(dirs.plugins().is_dir(), "plugins dir created");
    assert!(h.manager.list().is_empty(), "no plugins, no problem");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_binaries_are_skipped_recorded_and_the_daemon_goes_on() {
    let dirs = Dirs::new();
    let p = dirs.plugins();
    install(&p, &hello_rust(), "hello-rust");
    // Each case is one way a binary can be wrong; the comment says which.
    script(&p, "garbage", "echo 'this is not json'"); // garbage output
    script(&p, "fails", "echo boom >&2; exit 3"); // --metadata exits non-zero
    script(&p, "hangs", "sleep 30"); // --metadata never finishes
    script(&p, "huge", "head -c 1000000 /dev/zero | tr '\\0' 'x'"); // output over the cap
    script(
        &p,
        "bad-id",
        r#"echo '{"id":"../etc","name":"x","version":"1","route":"/x","protocol_version":1}'"#,
    ); // path trick in the id
    script(
        &p,
        "bad-route",
        r#"echo '{"id":"bad-route","name":"x","version":"1","route":"x/../..","protocol_version":1}'"#,
    ); // invalid route
    script(
        &p,
        "future",
        r#"echo '{"id":"future","name":"x","version":"1","route":"/x","protocol_version":99}'"#,
    ); // unsupported protocol
    script(
        &p,
        "twin",
        &format!("echo '{}'", metadata_json("hello-rust")),
    ); // duplicate id
    std::fs::write(p.join("not-executable.binary"), "#!/bin/sh\necho hi\n").unwrap(); // no exec bit
    std::fs::write(p.join("README.txt"), "not a plugin").unwrap(); // ignored: wrong extension

    let started = Instant::now();
    let h = Harness::start(&dirs).await;
    let ids: Vec<String> = h.manager.list().into_iter().map(|p| p.meta.id).collect();
    assert_eq!(ids, ["hello-rust"], "only the valid plugin is loaded");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the hanging binary was cut off"
    );

    let failures = h.manager.discovery_failures();
    let reason = |name: &str| {
        failures
            .iter()
            .find(|f| f.binary.file_name().unwrap() == format!("{name}.binary").as_str())
            .unwrap_or_else(|| panic!("{name} not reported: {failures:#?}"))
            .reason
            .clone()
    };
    assert!(reason("garbage").contains("invalid metadata"));
    assert!(reason("fails").contains("failed"));
    assert!(reason("hangs").contains("did not finish"));
    assert!(reason("huge").contains("more than"));
    assert!(reason("bad-id").contains("invalid plugin id"));
    assert!(reason("bad-route").contains("invalid route"));
    assert!(reason("future").contains("protocol version"));
    assert!(reason("twin").contains("duplicate plugin id"));
    assert!(reason("not-executable").contains("cannot execute"));
    assert_eq!(failures.len(), 9, "{failures:#?}");
    // Each failure is recorded as an event under the binary's name.
    assert_eq!(h.event_kinds("garbage").await, [EventKind::DiscoveryFailed]);
    // And the daemon still works: the valid plugin runs.
    h.manager.enable("hello-rust", &admin()).await.unwrap();
    h.wait_running("hello-rust").await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_starts_serves_and_disable_stops() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    let h = Harness::start(&dirs).await;

    // Not enabled: its routes do not exist.
    assert!(matches!(
        h.manager.forward("hello-rust", get("/greeting")).await,
        Err(ForwardError::NotFound(_))
    ));

    h.manager.enable("hello-rust", &admin()).await.unwrap();
    let status = h.wait_running("hello-rust").await;
    let pid = status.pid.expect("a pid");
    assert!(alive(pid), "the process runs");
    assert!(status.healthy);

    // Routes available.
    let reply = h
        .manager
        .forward(
            "hello-rust",
            HttpRequest {
                user: Some("ada".into()),
                ..get("/greeting")
            },
        )
        .await
        .unwrap();
    assert_eq!(json(&reply)["message"], "Hello, ada!");

    // The plugin got the instance id in lifecycle.init; it logs it, and its log file
    // holds valid JSON lines with levels from the `<N>` prefix.
    let instance_id = h.store.instance_id().await.unwrap().to_string();
    let log_path = dirs.logs().join("plugins/hello-rust.log");
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(&instance_id)) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with the instance id in {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(entry["plugin"], "hello-rust");
    assert_eq!(entry["level"], "info");
    let message = entry["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("initialised for instance {instance_id};")),
        "{message}"
    );
    assert_eq!(entry["fields"]["stream"], "stderr");

    // Disable stops the process and the routes 404.
    let info = h.manager.disable("hello-rust", &admin()).await.unwrap();
    assert_eq!(info.status.state, PluginState::Disabled);
    assert!(!alive(pid), "the process is gone");
    assert!(matches!(
        h.manager.forward("hello-rust", get("/greeting")).await,
        Err(ForwardError::NotFound(_))
    ));
    assert!(
        !dirs.runtime().join("plugins/hello-rust.sock").exists(),
        "socket cleaned up"
    );
    let kinds = h.event_kinds("hello-rust").await;
    assert_eq!(
        kinds,
        [
            EventKind::Discovered,
            EventKind::Enabled,
            EventKind::Started,
            EventKind::Stopped,
            EventKind::Disabled
        ]
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_and_enabled_state_survive_restarts() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    let h = Harness::start(&dirs).await;
    let instance_id = h.store.instance_id().await.unwrap();
    assert_eq!(instance_id.get_version_num(), 4, "a v4 UUID");
    h.manager.enable("hello-rust", &admin()).await.unwrap();
    h.wait_running("hello-rust").await;
    for expected in 1..=3 {
        let reply = h
            .manager
            .forward("hello-rust", post("/counter/increment"))
            .await
            .unwrap();
        assert_eq!(
            json(&reply)["count"],
            expected,
            "set/get through the plugin"
        );
    }
    // The value is scoped to the plugin.
    assert_eq!(
        h.store
            .kv_get("hello-rust", "counter")
            .await
            .unwrap()
            .as_deref(),
        Some("3")
    );
    assert_eq!(
        h.store.kv_get("other-plugin", "counter").await.unwrap(),
        None
    );
    h.stop().await;

    // A new daemon on the same directories.
    let h = Harness::start(&dirs).await;
    assert_eq!(
        h.store.instance_id().await.unwrap(),
        instance_id,
        "same instance id"
    );
    let status = h.wait_running("hello-rust").await;
    assert!(status.enabled, "enabled state restored");
    let reply = h
        .manager
        .forward("hello-rust", get("/counter"))
        .await
        .unwrap();
    assert_eq!(json(&reply)["count"], 3, "KV persisted across the restart");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_plugin_is_restarted_and_keeps_its_kv() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    let h = Harness::start(&dirs).await;
    h.manager.enable("hello-rust", &admin()).await.unwrap();
    let first = h.wait_running("hello-rust").await.pid.unwrap();
    h.manager
        .forward("hello-rust", post("/counter/increment"))
        .await
        .unwrap();

    std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    let status = h
        .wait_for("hello-rust", Duration::from_secs(10), "restarted", |s| {
            s.state == PluginState::Running && s.pid.is_some_and(|p| p != first)
        })
        .await;
    assert_eq!(status.restarts, 1);
    assert_eq!(status.consecutive_failures, 1);
    assert_eq!(status.last_error.as_deref(), Some("killed by signal 9"));
    let reply = h
        .manager
        .forward("hello-rust", get("/counter"))
        .await
        .unwrap();
    assert_eq!(json(&reply)["count"], 1, "KV survived the plugin restart");
    let events = h.events("hello-rust").await;
    let crashed = events
        .iter()
        .find(|e| e.kind == EventKind::Crashed)
        .unwrap();
    assert_eq!(crashed.details, "killed by signal 9");
    let restarting = events
        .iter()
        .find(|e| e.kind == EventKind::Restarting)
        .unwrap();
    assert_eq!(restarting.details, "restart 1 in 1s");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_plugin_backs_off_1_2_then_gives_up_after_n() {
    let dirs = Dirs::new();
    crashing_plugin(&dirs.plugins(), "crasher", 1);
    let h = Harness::start(&dirs).await; // max_failures = 3
    h.manager.enable("crasher", &admin()).await.unwrap();
    let status = h
        .wait_for("crasher", Duration::from_secs(15), "given up", |s| {
            s.state == PluginState::Failed
        })
        .await;
    assert!(!status.enabled, "disabled after N failures");
    assert_eq!(status.consecutive_failures, 3);
    assert_eq!(status.restarts, 2);

    let events = h.events("crasher").await;
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Discovered,
            EventKind::Enabled,
            EventKind::Crashed,
            EventKind::Restarting,
            EventKind::Crashed,
            EventKind::Restarting,
            EventKind::Crashed,
            EventKind::GaveUp
        ]
    );
    let crashes: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Crashed)
        .collect();
    assert!(
        crashes
            .iter()
            .all(|e| e.details.contains("exited with status 1")),
        "{crashes:#?}"
    );
    let restarts: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Restarting)
        .map(|e| e.details.as_str())
        .collect();
    assert_eq!(restarts, ["restart 1 in 1s", "restart 2 in 2s"]);
    // The schedule really waited: gaps between crashes are at least the backoff.
    let gap = |a: usize, b: usize| crashes[b].at_unix_ms - crashes[a].at_unix_ms;
    assert!(gap(0, 1) >= 1000, "first backoff {} ms", gap(0, 1));
    assert!(gap(1, 2) >= 2000, "second backoff {} ms", gap(1, 2));
    // The give-up is durable: a new daemon does not start it.
    h.stop().await;
    let h = Harness::start(&dirs).await;
    assert_eq!(
        h.manager.get("crasher").unwrap().status.state,
        PluginState::Disabled
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backoff_schedule_continues_to_16s_and_caps() {
    // Exercised on the pure function as well as live above: 1, 2, 4, 8, 16, 16.
    let s = test_settings(std::path::Path::new("/unused"));
    let delays: Vec<u64> = (1..=6).map(|n| s.backoff.delay(n).as_secs()).collect();
    assert_eq!(delays, [1, 2, 4, 8, 16, 16]);
}

/// Installs the misbehaving Python plugin under `mode`.
fn install_misbehaving(dirs: &Dirs, mode: &str) {
    fixtures::install_misbehaving(&dirs.plugins(), mode);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_plugin_times_out_requests_and_is_restarted() {
    let dirs = Dirs::new();
    install_misbehaving(&dirs, "hang");
    let mut settings = test_settings(&dirs.plugins());
    settings.request_timeout = Duration::from_millis(300);
    let h = Harness::start_with(&dirs, settings).await;
    h.manager.enable("hang", &admin()).await.unwrap();
    let first = h.wait_running("hang").await.pid.unwrap();
    // A request it never answers: a timeout, not a stuck caller (request_timeout = 300 ms, well
    // before three missed pings get it restarted).
    let result = h.manager.forward("hang", get("/anything")).await;
    assert!(
        matches!(result, Err(ForwardError::Timeout(_))),
        "{result:?}"
    );
    // Three missed pings (200 ms each) and it is restarted as hung.
    let status = h
        .wait_for("hang", Duration::from_secs(15), "restarted", |s| {
            s.restarts >= 1 && s.state == PluginState::Running
        })
        .await;
    assert_ne!(status.pid, Some(first));
    assert!(!alive(first), "the hung process was stopped");
    let kinds = h.event_kinds("hang").await;
    assert!(kinds.contains(&EventKind::Unhealthy), "{kinds:?}");
    let events = h.events("hang").await;
    let crashed = events
        .iter()
        .find(|e| e.kind == EventKind::Crashed)
        .unwrap();
    assert!(
        crashed.details.contains("stopped answering pings"),
        "{}",
        crashed.details
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_that_break_the_protocol_fail_their_start_and_back_off() {
    // garbage: answers init with non-JSON; liar: answers init with the wrong request_id;
    // flood: sends an endless line after init. None may take the daemon down or hang it.
    let dirs = Dirs::new();
    for mode in ["garbage", "liar", "flood"] {
        install_misbehaving(&dirs, mode);
    }
    let mut settings = test_settings(&dirs.plugins());
    settings.start_timeout = Duration::from_secs(3);
    settings.max_frame = 64 * 1024;
    let h = Harness::start_with(&dirs, settings).await;
    for mode in ["garbage", "liar", "flood"] {
        h.manager.enable(mode, &admin()).await.unwrap();
    }
    for (mode, expected) in [
        // It answers each of our error replies with more garbage: after 100 bad frames the
        // daemon closes the connection instead of playing along.
        ("garbage", "closed"),
        ("liar", "did not answer"),
        // The over-long frame closes the connection.
        ("flood", "closed"),
    ] {
        // Three failed starts (backoff 1 s, 2 s) and it is given up on.
        h.wait_for(mode, Duration::from_secs(30), "given up", |s| {
            s.state == PluginState::Failed
        })
        .await;
        let crashes: Vec<String> = h
            .events(mode)
            .await
            .into_iter()
            .filter(|e| e.kind == EventKind::Crashed)
            .map(|e| e.details)
            .collect();
        assert_eq!(crashes.len(), 3, "{mode}: {crashes:?}");
        assert!(
            crashes.iter().any(|c| c.contains(expected)),
            "{mode}: {crashes:?}"
        );
    }
    h.stop().await;
}
