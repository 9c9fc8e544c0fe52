//! Plugins that attack the daemon on purpose (issue 16 items 6, 7 and the KV quota): one that
//! stops reading its socket, one that floods the store with `kv.request`s. Each test checks
//! that the daemon stays bounded and answers others within a generous bound (a behaviour check,
//! not a speed test).
//!
//! The fake plugins are either the test itself speaking raw frames over a socket pair, or
//! `tests/fixtures/misbehaving_plugin.py` run by a real manager over the embedded backend.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::net::UnixStream;
use tokio_util::codec::{Framed, FramedRead, FramedWrite};
use toru_daemon::plugins::connection::{Connection, ConnectionError, ConnectionLimits};
use toru_daemon::plugins::{ForwardError, PluginState};
use toru_daemon::store::{DEFAULT_KV_QUOTA, EventKind, Store};
use toru_plugin_api::{Body, ErrorCode, FrameCodec, KvOp, KvResult, Message, PluginId};

use support::harness::{Dirs, Harness, admin, alive, test_settings};

/// The tests in this file measure the process's memory and the store's latency, so they run
/// one at a time rather than disturbing each other.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The resident set of this process (which is the daemon here), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

async fn open_store(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("toru.db")).await.unwrap()
}

/// A store in which plugin `p` has a 1 MiB value under `big`, for a plugin to ask for and not read.
async fn store_with_big_value(dir: &tempfile::TempDir) -> Store {
    let store = open_store(dir).await;
    store
        .kv_set("p", "big", &"x".repeat(1 << 20))
        .await
        .unwrap();
    store
}

fn kv_get(id: usize, key: &str) -> Message {
    Message::new(
        format!("p-{id}"),
        Body::KvRequest(KvOp::Get { key: key.into() }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_stops_reading_cannot_grow_the_daemon_or_block_its_requests() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_big_value(&dir).await;
    let (daemon_side, plugin_side) = UnixStream::pair().unwrap();
    let conn = Connection::serve(
        &plugin_p(),
        daemon_side,
        store,
        toru_plugin_api::DEFAULT_MAX_FRAME,
    );
    let before = rss();
    // The plugin asks for the 1 MiB value 300 times and never reads an answer.
    let mut plugin = FramedWrite::new(plugin_side, FrameCodec::new());
    for i in 0..300 {
        plugin.feed(&kv_get(i, "big")).await.unwrap();
    }
    plugin.flush().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A request to it times out within its own timeout, even though the daemon cannot send it.
    let started = Instant::now();
    let ping = tokio::time::timeout(
        Duration::from_secs(5),
        conn.ping(Duration::from_millis(500)),
    )
    .await;
    assert!(
        matches!(ping, Ok(Err(ConnectionError::Timeout { .. }))),
        "the ping must time out, not wait for room to send: {ping:?} after {:?}",
        started.elapsed()
    );
    let grown = rss().saturating_sub(before);
    println!("the daemon grew by {} KiB", grown >> 10);
    assert!(
        grown < 64 << 20,
        "the daemon grew by {} MiB for a plugin that does not read",
        grown >> 20
    );
    drop(plugin);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_socket_stays_full_is_closed_after_the_write_stall() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_big_value(&dir).await;
    let (daemon_side, plugin_side) = UnixStream::pair().unwrap();
    let stall = Duration::from_millis(300);
    let conn = Connection::serve_with(
        &plugin_p(),
        daemon_side,
        store,
        ConnectionLimits {
            write_stall: stall,
            ..ConnectionLimits::default()
        },
    );
    let mut plugin = FramedWrite::new(plugin_side, FrameCodec::new());
    for i in 0..10 {
        plugin.feed(&kv_get(i, "big")).await.unwrap();
    }
    plugin.flush().await.unwrap();
    // Ten 1 MiB answers do not fit in the socket; the plugin reads none of them.
    let closed = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
    assert!(
        closed.is_ok(),
        "the connection stayed open although nothing could be written for {stall:?}"
    );
    let ping = conn.ping(Duration::from_secs(1)).await;
    assert!(
        matches!(ping, Err(ConnectionError::Closed { .. })),
        "{ping:?}"
    );
    drop(plugin);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_stops_reading_is_unhealthy_and_restarted() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    support::fixtures::install_misbehaving(&dirs.plugins(), "deaf");
    let h = Harness::start(&dirs).await;
    h.manager.enable("deaf", &admin()).await.unwrap();
    let first = h.wait_running("deaf").await.pid.unwrap();
    // Pings every 200 ms, 200 ms to answer, 3 missed: it must not look healthy for long.
    h.wait_for("deaf", Duration::from_secs(5), "unhealthy", |s| {
        !(s.state == PluginState::Running && s.healthy)
    })
    .await;
    let status = h
        .wait_for("deaf", Duration::from_secs(10), "restarted", |s| {
            s.restarts >= 1 && s.pid != Some(first)
        })
        .await;
    assert!(!alive(first), "the deaf process was stopped");
    let kinds = h.event_kinds("deaf").await;
    assert!(kinds.contains(&EventKind::Crashed), "{kinds:?} {status:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_plugin_that_stops_reading_finishes_within_the_stop_bound() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    support::fixtures::install_misbehaving(&dirs.plugins(), "deaf");
    let mut settings = test_settings(&dirs.plugins());
    // No health checks in this test: it is about requests and disable, not the restart.
    settings.ping_interval = Duration::from_secs(600);
    let request_timeout = settings.request_timeout;
    // The documented bound: `stop_grace` after `lifecycle.shutdown`, `stop_grace` after SIGTERM.
    let bound = settings.stop_grace * 2 + Duration::from_secs(2);
    let h = Harness::start_with(&dirs, settings).await;
    h.manager.enable("deaf", &admin()).await.unwrap();
    let pid = h.wait_running("deaf").await.pid.unwrap();
    // Let its socket and the daemon's queue fill up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A forwarded request is a timeout (504 for the client) within its timeout.
    let request = toru_plugin_api::HttpRequest {
        method: "GET".into(),
        path: "/x".into(),
        ..Default::default()
    };
    let forwarded = tokio::time::timeout(
        request_timeout + Duration::from_secs(2),
        h.manager.forward("deaf", request),
    )
    .await;
    assert!(
        matches!(forwarded, Ok(Err(ForwardError::Timeout(_)))),
        "{forwarded:?}"
    );
    let started = Instant::now();
    let disabled = tokio::time::timeout(bound, h.manager.disable("deaf", &admin())).await;
    assert!(
        matches!(disabled, Ok(Ok(_))),
        "disable did not finish within {bound:?}: {disabled:?}"
    );
    assert!(!alive(pid), "the plugin was stopped");
    println!("disable took {:?}", started.elapsed());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_shutdown_with_a_plugin_that_stops_reading_finishes_within_the_stop_bound() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    support::fixtures::install_misbehaving(&dirs.plugins(), "deaf");
    let settings = test_settings(&dirs.plugins());
    let bound = settings.stop_grace * 2 + Duration::from_secs(2);
    let h = Harness::start_with(&dirs, settings).await;
    h.manager.enable("deaf", &admin()).await.unwrap();
    let pid = h.wait_running("deaf").await.pid.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped = tokio::time::timeout(bound, h.stop()).await;
    assert!(stopped.is_ok(), "shutdown did not finish within {bound:?}");
    assert!(
        !alive(pid),
        "the embedded plugin was stopped with the daemon"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kv_flood_from_one_plugin_does_not_starve_other_plugins_or_the_api() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    store.kv_set("other", "k", "v").await.unwrap();
    let (daemon_side, plugin_side) = UnixStream::pair().unwrap();
    let _conn = Connection::serve(
        &PluginId::new("flood").unwrap(),
        daemon_side,
        store.clone(),
        toru_plugin_api::DEFAULT_MAX_FRAME,
    );
    let (read_half, write_half) = plugin_side.into_split();
    // The plugin reads and discards its answers, so only the store can hold it back.
    let answered = Arc::new(AtomicU64::new(0));
    let counter = answered.clone();
    let answers = tokio::spawn(async move {
        let mut frames = FramedRead::new(read_half, FrameCodec::new());
        while let Some(Ok(_)) = frames.next().await {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    // 200,000 pipelined sets, encoded up front so that the plugin side costs nothing and the
    // daemon reads them as fast as it can.
    let mut frames = FramedWrite::new(Vec::new(), FrameCodec::new());
    for i in 0..200_000usize {
        let set = Message::new(
            format!("p-{i}"),
            Body::KvRequest(KvOp::Set {
                key: format!("k{}", i % 1000),
                value: "v".repeat(100),
            }),
        );
        frames.feed(&set).await.unwrap();
    }
    frames.flush().await.unwrap();
    let bytes = frames.into_inner();
    let mut write_half = write_half;
    let flood = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = write_half.write_all(&bytes).await;
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Meanwhile another plugin's KV and the API's own store calls answer within 2 s each.
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            store.kv_get("other", "k").await.unwrap();
            store.kv_set("other", "k2", "v").await.unwrap();
            store.kv_list("other", "").await.unwrap()
        })
        .await;
        let took = started.elapsed();
        assert!(got.is_ok(), "no answer within 10 s");
        worst = worst.max(took);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let served = answered.load(Ordering::Relaxed);
    println!(
        "worst wait of another plugin's KV during the flood: {worst:?} ({served} sets served)"
    );
    assert!(served > 0, "the flood was not served at all");
    assert!(
        worst < Duration::from_secs(2),
        "another plugin waited {worst:?} for the store"
    );
    flood.abort();
    answers.abort();
}

/// Sends one KV request over `plugin` and returns the answer's body.
async fn kv(plugin: &mut Framed<UnixStream, FrameCodec>, id: &str, op: KvOp) -> Body {
    plugin
        .send(&Message::new(id, Body::KvRequest(op)))
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), plugin.next())
        .await
        .expect("an answer within 5 s")
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply.request_id, id);
    reply.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_past_its_kv_quota_gets_kv_failed_and_can_still_delete_and_shrink() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    let (daemon_side, plugin_side) = UnixStream::pair().unwrap();
    let _conn = Connection::serve(
        &plugin_p(),
        daemon_side,
        store.clone(),
        toru_plugin_api::DEFAULT_MAX_FRAME,
    );
    let mut plugin = Framed::new(plugin_side, FrameCodec::new());
    let set = |key: String, len: usize| KvOp::Set {
        key,
        value: "x".repeat(len),
    };
    // The default quota is 64 MiB: 64 values of 1 MiB minus their key fit, the next does not.
    for i in 0..64 {
        let body = kv(
            &mut plugin,
            &format!("p-{i}"),
            set(format!("{i:02}"), (1 << 20) - 2),
        )
        .await;
        assert_eq!(body, Body::KvResponse(KvResult::Set), "value {i}");
    }
    match kv(&mut plugin, "p-over", set("over".into(), 1)).await {
        Body::Error(e) => {
            assert_eq!(e.code, ErrorCode::KvFailed);
            assert!(e.message.contains("quota"), "{}", e.message);
        }
        other => panic!("a write past the quota was accepted: {other:?}"),
    }
    assert_eq!(
        store.kv_get("p", "over").await.unwrap(),
        None,
        "nothing written"
    );
    // Overwrites that shrink and deletes still work, and free room for new writes.
    let shrink = kv(&mut plugin, "p-shrink", set("00".into(), 10)).await;
    assert_eq!(shrink, Body::KvResponse(KvResult::Set));
    let delete = kv(&mut plugin, "p-del", KvOp::Delete { key: "01".into() }).await;
    assert_eq!(delete, Body::KvResponse(KvResult::Delete { existed: true }));
    let again = kv(&mut plugin, "p-again", set("over".into(), 1 << 20)).await;
    assert_eq!(again, Body::KvResponse(KvResult::Set));
    let usage = store.kv_usage("p").await.unwrap();
    assert_eq!(usage.quota, DEFAULT_KV_QUOTA);
    assert_eq!(usage.bytes, 62 * (1 << 20) + (2 + 10) + (4 + (1 << 20)));
    // Another plugin's quota is its own.
    store.kv_set("other", "k", "v").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_shows_kv_use_and_its_put_obeys_the_quota() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    support::fixtures::crashing_plugin(&dirs.plugins(), "quota", 1);
    let mut config = support::api::test_config(&dirs);
    config.kv_quota_bytes = 1000;
    let d = support::api::ApiDaemon::start_with(config).await;
    let local = &d.local;
    let put = |key: &str, len: usize| {
        let body = serde_json::json!({ "value": "x".repeat(len) }).to_string();
        let path = format!("/api/plugins/quota/kv/{key}");
        async move {
            local
                .raw(http::Method::PUT, &path, Some(body.into_bytes()))
                .await
        }
    };
    assert_eq!(put("a", 600).await.unwrap().status, 200);
    let over = put("b", 600).await.unwrap();
    assert_eq!(over.status, http::StatusCode::INSUFFICIENT_STORAGE);
    let error: serde_json::Value = serde_json::from_slice(&over.body).unwrap();
    assert_eq!(error["error"]["code"], "kv_quota_exceeded", "{error}");
    let details: serde_json::Value = local.get("/api/plugins/quota").await.unwrap();
    assert_eq!(details["kv"]["bytes"], 601, "{details:#}");
    assert_eq!(details["kv"]["quota"], 1000, "{details:#}");
    d.stop().await;
}

/// The id of the plugin these connections talk to.
fn plugin_p() -> PluginId {
    PluginId::new("p").unwrap()
}
