//! Hostile plugins and clients against the embedded supervisor and the daemon's start-up (issue
//! 16, item 9 and parts of 10): a helper that outlives a crashed plugin, `--metadata` that hangs,
//! and cheap ways to make the daemon rescan over and over.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::api::test_config;
use support::fixtures::{metadata_json, script};
use support::harness::{Dirs, Harness, admin, alive};
use tokio_util::sync::CancellationToken;
use toru_daemon::Daemon;
use toru_daemon::plugins::PluginState;
use toru_daemon::plugins::manager::Error;
use toru_daemon::store::EventKind;
use toructl::{Client, Endpoint};

/// The pids a script recorded, one per line, in `file`.
fn recorded_pids(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Waits until none of `pids` is alive, failing the test after `within`.
/// Installs a plugin `id` whose `--metadata` runs `before` and then answers; the closure
/// returned says how many times it has been asked, i.e. how many scans saw it.
fn counted_plugin(dirs: &Dirs, id: &str, before: &str) -> impl Fn() -> usize + use<> {
    let asked = dirs.root.path().join(format!("{id}.asked"));
    let meta = metadata_json(id);
    script(
        &dirs.plugins(),
        id,
        &format!(
            "if [ \"$1\" = --metadata ]; then echo x >> '{}'; {before}echo '{meta}'; exit 0; fi\nexit 1",
            asked.display()
        ),
    );
    move || {
        std::fs::read_to_string(&asked)
            .unwrap_or_default()
            .lines()
            .count()
    }
}

async fn wait_all_gone(pids: &[u32], within: Duration) {
    let deadline = Instant::now() + within;
    while pids.iter().any(|pid| alive(*pid)) {
        assert!(
            Instant::now() < deadline,
            "still alive: {:?}",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A plugin that forks a `sleep 1000` helper sharing its stdout and stderr, then crashes before
/// it ever listens. The daemon must learn of the exit from the process itself (not from its
/// output closing, which the helper prevents), kill the helper with its process group, and
/// restart it on the normal schedule; before, each run ended only when the connect timeout hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_plugins_helper_is_killed_and_the_plugin_restarted_promptly() {
    let dirs = Dirs::new();
    let helpers = dirs.root.path().join("helpers");
    let meta = metadata_json("forker");
    script(
        &dirs.plugins(),
        "forker",
        &format!(
            "if [ \"$1\" = --metadata ]; then echo '{meta}'; exit 0; fi\n\
             sleep 1000 &\n\
             echo $! >> '{}'\n\
             echo '<3>crashing, leaving a helper behind' >&2\n\
             exit 3",
            helpers.display()
        ),
    );
    let h = Harness::start(&dirs).await;
    h.manager.enable("forker", &admin()).await.unwrap();

    // max_failures is 3 in the test settings: three runs, 1 s and 2 s apart, then it gives up.
    // With the connect timeout (5 s) deciding each run's end this takes over 15 s.
    let status = h
        .wait_for("forker", Duration::from_secs(10), "given up", |s| {
            s.state == PluginState::Failed
        })
        .await;
    assert_eq!(status.restarts, 2, "{status:?}");
    let crashes: Vec<String> = h
        .events("forker")
        .await
        .into_iter()
        .filter(|e| e.kind == EventKind::Crashed)
        .map(|e| e.details)
        .collect();
    assert_eq!(crashes.len(), 3, "{crashes:?}");
    for reason in &crashes {
        assert_eq!(reason, "exited with status 3 during start", "{crashes:?}");
    }

    let pids = recorded_pids(&helpers);
    assert_eq!(pids.len(), 3, "one helper per run: {pids:?}");
    wait_all_gone(&pids, Duration::from_secs(5)).await;
    h.stop().await;
}

/// `enable` of an id nobody installed used to run a whole rescan each time (5 s each with a
/// `--metadata` that hangs): a cheap way to keep the daemon busy. Now it rescans an unchanged
/// directory at most once per interval, and a changed one at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_unknown_ids_in_a_loop_does_not_rescan_each_time() {
    let dirs = Dirs::new();
    let scans = counted_plugin(&dirs, "counted", "");
    let h = Harness::start(&dirs).await;
    assert_eq!(scans(), 1, "the scan at start");
    for i in 0..20 {
        let err = h
            .manager
            .enable(&format!("nope-{i}"), &admin())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UnknownPlugin(_)), "{err}");
    }
    assert_eq!(scans(), 1, "no scan for 20 enables of unknown ids");
    // A plugin installed meanwhile changes the directory, so enabling it scans at once.
    script(
        &dirs.plugins(),
        "late",
        &format!(
            "if [ \"$1\" = --metadata ]; then echo '{}'; exit 0; fi\nexit 1",
            metadata_json("late")
        ),
    );
    h.manager.enable("late", &admin()).await.unwrap();
    assert_eq!(scans(), 2, "one more scan, for the changed directory");
    h.manager.disable("late", &admin()).await.unwrap();
    h.stop().await;
}

/// Many `POST /api/rescan` at once share scans instead of queueing one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rescans_are_coalesced() {
    let dirs = Dirs::new();
    let scans = counted_plugin(&dirs, "slow", "sleep 0.3; ");
    let h = Harness::start(&dirs).await;
    assert_eq!(scans(), 1, "the scan at start");
    let rescans: Vec<_> = (0..8)
        .map(|_| {
            let manager = h.manager.clone();
            tokio::spawn(async move { manager.rescan(&admin()).await })
        })
        .collect();
    for rescan in rescans {
        rescan.await.unwrap().unwrap();
    }
    let during = scans() - 1;
    assert!(
        (1..=2).contains(&during),
        "{during} scans for 8 concurrent rescans"
    );
    h.stop().await;
}

/// A `--metadata` that hangs used to hold back the whole start-up, the API included, for the
/// discovery timeout. The API now listens first and discovery runs behind it; the plugin list
/// answers once the first scan is done, so it never shows a half-scanned directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_metadata_does_not_delay_the_api() {
    let dirs = Dirs::new();
    let pid_file = dirs.root.path().join("hanging.pid");
    script(
        &dirs.plugins(),
        "hang",
        &format!(
            "if [ \"$1\" = --metadata ]; then echo $$ > '{}'; exec sleep 30; fi\nexit 1",
            pid_file.display()
        ),
    );
    let meta = metadata_json("fine");
    script(
        &dirs.plugins(),
        "fine",
        &format!("if [ \"$1\" = --metadata ]; then echo '{meta}'; exit 0; fi\nexit 1"),
    );
    let config = test_config(&dirs);
    let shutdown = CancellationToken::new();
    let daemon = Daemon::start(&config, shutdown.clone()).await.unwrap();
    let client = Client::new(Endpoint::Tcp(daemon.http_addr.to_string()), None);
    let health: serde_json::Value = tokio::time::timeout(
        Duration::from_secs(5),
        client.get::<serde_json::Value>("/api/health"),
    )
    .await
    .expect("health answered within 5 s")
    .unwrap();
    assert!(health.is_object(), "{health}");

    // Discovery was still waiting for the hanging binary when the API answered.
    let deadline = Instant::now() + Duration::from_secs(5);
    let hanging = loop {
        if let Some(pid) = recorded_pids(&pid_file).first() {
            break *pid;
        }
        assert!(Instant::now() < deadline, "--metadata never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        alive(hanging),
        "the API answered only after discovery gave up on the hanging binary"
    );

    // So do the routes of one plugin: a disable (as a script right after start-up sends it)
    // or a KV read waits for the scan instead of answering 404 for a plugin about to appear.
    let local = Client::new(Endpoint::Unix(daemon.socket_path.clone()), None);
    let disabled: serde_json::Value = local
        .send_json(
            http::Method::POST,
            "/api/plugins/fine/disable",
            &serde_json::json!({}),
        )
        .await
        .expect("disable waits for the first scan");
    assert_eq!(disabled["id"], "fine");
    let _: serde_json::Value = local
        .get("/api/plugins/fine/kv")
        .await
        .expect("a KV read waits for the first scan too");

    // The list waits for the first scan instead of showing an empty directory.
    let list: serde_json::Value = local.get("/api/plugins").await.unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, ["fine"]);
    assert!(!alive(hanging), "the hanging --metadata was killed");
    shutdown.cancel();
    daemon.stop().await;
}
