//! The runner over a real Unix socket, with the test playing the daemon frame by frame.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};
use toru_plugin_api::testing::{TestDaemon, TestError, get};
use toru_plugin_api::{
    Body, ErrorCode, HttpRequest, HttpResponse, Init, Message, PROTOCOL_VERSION, PluginContext,
    PluginError, PluginMetadata, RunnerError, ServeOptions, ToruPlugin, serve,
};

/// A plugin whose `/slow` requests wait until the test opens a gate, so "fast requests are not
/// held behind slow ones" is checked by ordering, not by timing.
struct Probe {
    gate: Arc<Semaphore>,
    ctx: OnceLock<PluginContext>,
    shut_down: Arc<AtomicBool>,
    /// What the last `/kv-get` call failed with, so tests can see errors no response carries.
    kv_error: Arc<std::sync::Mutex<Option<String>>>,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            gate: Arc::new(Semaphore::new(0)),
            ctx: OnceLock::new(),
            shut_down: Arc::default(),
            kv_error: Arc::default(),
        }
    }
}

impl ToruPlugin for Probe {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata {
            id: "probe".into(),
            name: "Probe".into(),
            version: "1".into(),
            author: String::new(),
            icon: String::new(),
            route: "/probe".into(),
            protocol_version: PROTOCOL_VERSION,
            license_required: false,
            description: String::new(),
            permissions: Default::default(),
            settings: None,
        }
    }

    async fn init(&self, ctx: PluginContext) -> Result<(), PluginError> {
        if ctx.plugin_id != "probe" {
            return Err(PluginError::BadRequest(format!(
                "I am not {}",
                ctx.plugin_id
            )));
        }
        let _ = self.ctx.set(ctx);
        Ok(())
    }

    async fn handle_http(&self, req: HttpRequest) -> Result<HttpResponse, PluginError> {
        match req.path.as_str() {
            "/slow" => {
                let _permit = self.gate.acquire().await.expect("gate open");
                Ok(HttpResponse::text(200, format!("slow {}", req.query)))
            }
            "/fast" => Ok(HttpResponse::text(200, format!("fast {}", req.query))),
            "/echo" => Ok(HttpResponse {
                status: 200,
                headers: req.headers.clone(),
                body: req.body,
            }),
            "/kv" => {
                let kv = &self.ctx.get().ok_or(PluginError::Disconnected)?.kv;
                kv.set("greeting", "hello").await?;
                let value = kv.get("greeting").await?;
                let keys = kv.list("gr").await?;
                let existed = kv.delete("greeting").await?;
                let gone = kv.get("greeting").await?;
                Ok(HttpResponse::json(
                    200,
                    &serde_json::json!({"value": value, "keys": keys, "existed": existed, "gone": gone}),
                ))
            }
            "/slow-kv" => {
                let _permit = self.gate.acquire().await.expect("gate open");
                let kv = &self.ctx.get().ok_or(PluginError::Disconnected)?.kv;
                Ok(HttpResponse::json(200, &kv.get("k").await?))
            }
            "/kv-get" => {
                let kv = &self.ctx.get().ok_or(PluginError::Disconnected)?.kv;
                let value = kv.get("k").await.inspect_err(|e| {
                    *self.kv_error.lock().unwrap() = Some(e.to_string());
                })?;
                Ok(HttpResponse::json(200, &value))
            }
            "/fail" => Err(PluginError::NotFound("nothing here".into())),
            _ => Ok(HttpResponse::not_found()),
        }
    }

    async fn shutdown(&self) {
        self.shut_down.store(true, Ordering::SeqCst);
    }
}

/// A running runner on a temp socket.
struct Harness {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    gate: Arc<Semaphore>,
    shut_down: Arc<AtomicBool>,
    kv_error: Arc<std::sync::Mutex<Option<String>>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), RunnerError>>,
}

impl Harness {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run/probe.sock");
        let plugin = Probe::default();
        let gate = plugin.gate.clone();
        let shut_down = plugin.shut_down.clone();
        let kv_error = plugin.kv_error.clone();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let mut opts = ServeOptions::new(&socket);
        opts.max_frame = 64 * 1024;
        let task = tokio::spawn(serve(plugin, opts, async {
            let _ = stop_rx.await;
        }));
        Harness {
            _dir: dir,
            socket,
            gate,
            shut_down,
            kv_error,
            stop: Some(stop_tx),
            task,
        }
    }

    async fn daemon(&self) -> TestDaemon {
        let mut d = TestDaemon::connect(&self.socket, Duration::from_secs(5))
            .await
            .unwrap();
        d.init("probe", "00000000-0000-4000-8000-000000000000")
            .await
            .unwrap();
        d
    }

    async fn stop(mut self) -> Result<(), RunnerError> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap()
    }
}

fn body_text(m: &Message) -> String {
    match &m.body {
        Body::HttpResponse(r) => String::from_utf8(r.body.clone()).unwrap(),
        other => panic!("expected http.response, got {other:?}"),
    }
}

fn request(path: &str, query: String) -> HttpRequest {
    HttpRequest { query, ..get(path) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_requests_are_answered_by_id_and_slow_ones_do_not_block() {
    let h = Harness::start();
    let mut d = h.daemon().await;
    // 100 requests, every fourth one slow. Send them all before reading anything.
    let mut expected = std::collections::HashMap::new();
    let mut slow_ids = HashSet::new();
    for i in 0..100 {
        let id = d.next_id();
        let path = if i % 4 == 0 { "/slow" } else { "/fast" };
        if i % 4 == 0 {
            slow_ids.insert(id.clone());
        }
        expected.insert(id.clone(), format!("{} {i}", &path[1..]));
        let req = request(path, i.to_string());
        d.send(&Message::new(id, Body::HttpRequest(req)))
            .await
            .unwrap();
    }
    // All 75 fast answers arrive while the 25 slow handlers are still blocked.
    let mut answered = HashSet::new();
    for _ in 0..75 {
        let reply = d.recv().await.unwrap();
        assert!(
            !slow_ids.contains(&reply.request_id),
            "a slow request answered before the gate opened"
        );
        assert_eq!(
            body_text(&reply),
            expected[&reply.request_id],
            "answer matched to its id"
        );
        answered.insert(reply.request_id);
    }
    // A ping is answered at once even with 25 handlers stuck.
    let ping_id = d.next_id();
    d.send(&Message::new(ping_id.clone(), Body::Ping))
        .await
        .unwrap();
    let pong = d.recv().await.unwrap();
    assert_eq!(
        (pong.request_id.as_str(), &pong.body),
        (ping_id.as_str(), &Body::Pong)
    );

    h.gate.add_permits(1000);
    for _ in 0..25 {
        let reply = d.recv().await.unwrap();
        assert!(slow_ids.contains(&reply.request_id));
        assert_eq!(body_text(&reply), expected[&reply.request_id]);
        answered.insert(reply.request_id);
    }
    assert_eq!(answered.len(), 100, "every request answered exactly once");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn kv_calls_round_trip_through_the_daemon() {
    let h = Harness::start();
    let mut d = h.daemon().await;
    let reply = d.call(get("/kv")).await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&body_text(&reply)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"value": "hello", "keys": ["greeting"], "existed": true, "gone": null})
    );
    assert!(
        d.kv.is_empty(),
        "the plugin deleted its key in the daemon's store"
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_kv_error_from_the_daemon_becomes_a_500() {
    let h = Harness::start();
    let mut d = h.daemon().await;
    let id = d.next_id();
    d.send(&Message::new(id.clone(), Body::HttpRequest(get("/kv-get"))))
        .await
        .unwrap();
    let kv_req = d.recv().await.unwrap();
    assert!(matches!(kv_req.body, Body::KvRequest(_)));
    d.send(&Message::error(
        kv_req.request_id,
        ErrorCode::KvFailed,
        "disk full",
    ))
    .await
    .unwrap();
    let reply = d.recv().await.unwrap();
    assert_eq!(reply.request_id, id);
    let Body::HttpResponse(resp) = reply.body else {
        panic!("{reply:?}")
    };
    assert_eq!(resp.status, 500);
    assert!(String::from_utf8_lossy(&resp.body).contains("disk full"));
    h.stop().await.unwrap();
}

#[tokio::test]
async fn bodies_and_headers_pass_through_and_handler_errors_map_to_statuses() {
    let h = Harness::start();
    let mut d = h.daemon().await;
    let req = HttpRequest {
        method: "POST".into(),
        headers: vec![("x-one".into(), "1".into()), ("x-one".into(), "2".into())],
        body: (0..=255u8).collect(),
        ..get("/echo")
    };
    let reply = d.call(req.clone()).await.unwrap();
    let Body::HttpResponse(resp) = reply.body else {
        panic!()
    };
    assert_eq!(resp.body, req.body);
    assert_eq!(resp.headers, req.headers);

    let reply = d.call(get("/fail")).await.unwrap();
    let Body::HttpResponse(resp) = reply.body else {
        panic!()
    };
    assert_eq!(resp.status, 404);
    let reply = d.call(get("/nowhere")).await.unwrap();
    let Body::HttpResponse(resp) = reply.body else {
        panic!()
    };
    assert_eq!(resp.status, 404);
    h.stop().await.unwrap();
}

/// Sends raw bytes and expects an `error` frame with `code` and `request_id`.
async fn expect_error(d: &mut TestDaemon, raw: &str, code: ErrorCode, request_id: &str) {
    d.send_raw(raw.as_bytes()).await.unwrap();
    let reply = d.recv().await.unwrap();
    match reply.body {
        Body::Error(e) => assert_eq!(
            (e.code, reply.request_id.as_str()),
            (code, request_id),
            "{raw}"
        ),
        other => panic!("{raw}: expected error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_frames_get_an_error_and_the_connection_keeps_serving() {
    let h = Harness::start();
    let mut d = h.daemon().await;
    // invalid JSON: no id to answer, so the error has request_id ""
    expect_error(&mut d, "{oops\n", ErrorCode::MalformedFrame, "").await;
    // an unknown type: answered with its id
    expect_error(
        &mut d,
        "{\"type\":\"metrics.request\",\"timestamp\":1,\"request_id\":\"d-77\",\"payload\":{}}\n",
        ErrorCode::UnknownType,
        "d-77",
    )
    .await;
    // a missing payload field: http.request without a method
    expect_error(
        &mut d,
        "{\"type\":\"http.request\",\"timestamp\":1,\"request_id\":\"d-78\",\"payload\":{\"path\":\"/x\"}}\n",
        ErrorCode::BadPayload,
        "d-78",
    )
    .await;
    // a message only a plugin sends, sent to the plugin
    expect_error(
        &mut d,
        "{\"type\":\"pong\",\"timestamp\":1,\"request_id\":\"d-79\",\"payload\":{}}\n",
        ErrorCode::UnknownType,
        "d-79",
    )
    .await;
    // a kv.response nobody waits for is ignored, not answered
    d.send_raw(b"{\"type\":\"kv.response\",\"timestamp\":1,\"request_id\":\"p-999\",\"payload\":{\"op\":\"set\"}}\n")
        .await
        .unwrap();
    // ...and after all that the same connection still serves.
    let reply = d.call(get("/fast")).await.unwrap();
    assert_eq!(body_text(&reply), "fast ");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn an_oversized_frame_closes_only_that_connection() {
    let h = Harness::start();
    let mut d = h.daemon().await;
    // 64 KiB limit in the harness; send 100 KiB without a newline.
    d.send_raw(&vec![b'x'; 100 * 1024]).await.unwrap();
    match d.recv().await {
        Err(TestError::Closed) | Err(TestError::Codec(_)) => {}
        other => panic!("expected the connection to close, got {other:?}"),
    }
    // The runner itself keeps serving new connections.
    let mut d2 = h.daemon().await;
    assert_eq!(body_text(&d2.call(get("/fast")).await.unwrap()), "fast ");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_connection_closed_mid_frame_does_not_hurt_the_runner() {
    let h = Harness::start();
    let mut d = h.daemon().await;
    d.send_raw(b"{\"type\":\"ping\",\"times").await.unwrap();
    drop(d);
    let mut d2 = h.daemon().await;
    assert_eq!(body_text(&d2.call(get("/fast")).await.unwrap()), "fast ");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn init_is_refused_for_another_protocol_version_or_a_failing_plugin() {
    let h = Harness::start();
    let mut d = TestDaemon::connect(&h.socket, Duration::from_secs(5))
        .await
        .unwrap();
    let init = |version, plugin_id: &str| Init {
        protocol_version: version,
        plugin_id: plugin_id.into(),
        instance_id: "i".into(),
        config: Default::default(),
        license: None,
    };
    d.send(&Message::new(
        "d-1",
        Body::Init(init(PROTOCOL_VERSION + 1, "probe")),
    ))
    .await
    .unwrap();
    let reply = d.recv().await.unwrap();
    assert!(
        matches!(reply.body, Body::Error(ref e) if e.code == ErrorCode::UnsupportedVersion),
        "{reply:?}"
    );
    d.send(&Message::new(
        "d-2",
        Body::Init(init(PROTOCOL_VERSION, "someone-else")),
    ))
    .await
    .unwrap();
    let reply = d.recv().await.unwrap();
    assert!(
        matches!(reply.body, Body::Error(ref e) if e.code == ErrorCode::Internal),
        "{reply:?}"
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn kv_calls_fail_fast_when_the_daemon_disconnects() {
    let h = Harness::start();
    let mut d = h.daemon().await;
    d.send(&Message::new("d-50", Body::HttpRequest(get("/kv-get"))))
        .await
        .unwrap();
    let kv_req = d.recv().await.unwrap();
    assert!(matches!(kv_req.body, Body::KvRequest(_)));
    // The daemon goes away without answering: the waiting call must fail with `Disconnected`
    // at once, well before the 10 s KV timeout would have released it.
    drop(d);
    let mut waited = Duration::ZERO;
    while h.kv_error.lock().unwrap().is_none() && waited < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += Duration::from_millis(10);
    }
    assert_eq!(
        h.kv_error.lock().unwrap().as_deref(),
        Some("not connected to the daemon")
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_message_stops_the_runner_and_removes_the_socket() {
    let h = Harness::start();
    let mut d = h.daemon().await;
    d.send(&Message::new("d-9", Body::Shutdown)).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), h.task)
        .await
        .unwrap()
        .unwrap();
    result.unwrap();
    assert!(
        h.shut_down.load(Ordering::SeqCst),
        "the plugin's shutdown hook ran"
    );
    assert!(!h.socket.exists(), "socket file removed");
}

#[tokio::test]
async fn stop_signal_waits_for_in_flight_requests() {
    let h = Harness::start();
    let mut d = h.daemon().await;
    d.send(&Message::new(
        "d-slow",
        Body::HttpRequest(request("/slow", "last".into())),
    ))
    .await
    .unwrap();
    // Make sure the handler is running before asking the runner to stop.
    d.send(&Message::new("d-ping", Body::Ping)).await.unwrap();
    assert_eq!(d.recv().await.unwrap().body, Body::Pong);
    let gate = h.gate.clone();
    let shut_down = h.shut_down.clone();
    let socket = h.socket.clone();
    let stopping = tokio::spawn(h.stop());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !shut_down.load(Ordering::SeqCst),
        "shutdown hook must wait for the in-flight request"
    );
    gate.add_permits(1);
    let reply = d.recv().await.unwrap();
    assert_eq!(body_text(&reply), "slow last");
    stopping.await.unwrap().unwrap();
    assert!(shut_down.load(Ordering::SeqCst));
    assert!(!Path::new(&socket).exists());
}

#[tokio::test]
async fn a_stale_socket_is_replaced_but_a_regular_file_never_is() {
    let dir = tempfile::tempdir().unwrap();
    // A socket file left behind by a previous run that died.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(Probe::default(), ServeOptions::new(&stale), async {
        let _ = rx.await;
    }));
    let mut d = TestDaemon::connect(&stale, Duration::from_secs(5))
        .await
        .unwrap();
    d.init("probe", "i").await.unwrap();
    let _ = tx.send(());
    task.await.unwrap().unwrap();

    // Something that is not a socket at the path: refuse and leave it alone.
    let precious = dir.path().join("precious");
    std::fs::write(&precious, "data").unwrap();
    let result = serve(Probe::default(), ServeOptions::new(&precious), async {}).await;
    assert!(
        matches!(result, Err(RunnerError::NotASocket(_))),
        "{result:?}"
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "data");
}

/// A plugin with a frontend bundle, to check the reserved path is served by the runner.
struct WithBundle;

impl ToruPlugin for WithBundle {
    fn metadata(&self) -> PluginMetadata {
        Probe::default().metadata()
    }
    async fn handle_http(&self, _req: HttpRequest) -> Result<HttpResponse, PluginError> {
        Ok(HttpResponse::text(200, "handler"))
    }
    fn frontend_bundle(&self) -> Option<&'static [u8]> {
        Some(b"export function mount() {}")
    }
}

#[tokio::test]
async fn the_reserved_bundle_path_is_served_from_frontend_bundle_not_the_handler() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("b.sock");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(WithBundle, ServeOptions::new(&socket), async {
        let _ = rx.await;
    }));
    let mut d = TestDaemon::connect(&socket, Duration::from_secs(5))
        .await
        .unwrap();
    d.init("probe", "i").await.unwrap();
    let Body::HttpResponse(bundle) = d.call(get("/_toru/bundle.js")).await.unwrap().body else {
        panic!()
    };
    assert_eq!(bundle.body, b"export function mount() {}");
    assert_eq!(bundle.headers[0].1, "text/javascript; charset=utf-8");
    // Other reserved paths, and the bundle path with another method, are 404 — never the handler.
    for req in [
        get("/_toru/other"),
        HttpRequest {
            method: "POST".into(),
            ..get("/_toru/bundle.js")
        },
    ] {
        let Body::HttpResponse(r) = d.call(req).await.unwrap().body else {
            panic!()
        };
        assert_eq!(r.status, 404);
    }
    // A plugin without a bundle answers 404 too (Probe has none).
    let _ = tx.send(());
    task.await.unwrap().unwrap();
    let h = Harness::start();
    let mut d = h.daemon().await;
    let Body::HttpResponse(r) = d.call(get("/_toru/bundle.js")).await.unwrap().body else {
        panic!()
    };
    assert_eq!(r.status, 404);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn while_draining_kv_still_works_and_new_work_is_refused() {
    let h = Harness::start();
    let mut d = h.daemon().await;
    d.kv.insert("k".into(), "v".into());
    d.send(&Message::new("d-slow", Body::HttpRequest(get("/slow-kv"))))
        .await
        .unwrap();
    d.send(&Message::new("d-ping", Body::Ping)).await.unwrap();
    assert_eq!(d.recv().await.unwrap().body, Body::Pong);
    // The daemon asks the plugin to shut down while the handler is still waiting.
    d.send(&Message::new("d-stop", Body::Shutdown))
        .await
        .unwrap();
    // New work is refused at once...
    d.send(&Message::new("d-new", Body::HttpRequest(get("/fast"))))
        .await
        .unwrap();
    let refused = d.recv().await.unwrap();
    assert_eq!(refused.request_id, "d-new");
    assert!(
        matches!(refused.body, Body::Error(ref e) if e.code == ErrorCode::Unavailable),
        "{refused:?}"
    );
    // ...pings are still answered, and the in-flight handler's KV call gets its answer.
    d.send(&Message::new("d-ping2", Body::Ping)).await.unwrap();
    assert_eq!(d.recv().await.unwrap().body, Body::Pong);
    h.gate.add_permits(1);
    let reply = d.recv_serving_kv().await.unwrap();
    assert_eq!(reply.request_id, "d-slow");
    assert_eq!(body_text(&reply), "\"v\"");
    let result = tokio::time::timeout(Duration::from_secs(10), h.task)
        .await
        .unwrap()
        .unwrap();
    result.unwrap();
    assert!(h.shut_down.load(Ordering::SeqCst));
}

/// A plugin whose one route answers more than the harness's 64 KiB frame limit.
struct Verbose;

impl ToruPlugin for Verbose {
    fn metadata(&self) -> PluginMetadata {
        Probe::default().metadata()
    }
    async fn handle_http(&self, req: HttpRequest) -> Result<HttpResponse, PluginError> {
        match req.path.as_str() {
            "/huge" => Ok(HttpResponse::text(200, "x".repeat(100 * 1024))),
            _ => Ok(HttpResponse::text(200, "small")),
        }
    }
}

#[tokio::test]
async fn a_response_over_the_frame_limit_becomes_an_error_for_that_request_only() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("v.sock");
    let (tx, rx) = oneshot::channel::<()>();
    let mut opts = ServeOptions::new(&socket);
    opts.max_frame = 64 * 1024;
    let task = tokio::spawn(serve(Verbose, opts, async {
        let _ = rx.await;
    }));
    let mut d = TestDaemon::connect(&socket, Duration::from_secs(5))
        .await
        .unwrap();
    d.init("probe", "i").await.unwrap();
    let reply = d.call(get("/huge")).await.unwrap();
    assert!(
        matches!(reply.body, Body::Error(ref e) if e.code == ErrorCode::Internal && e.message.contains("frame limit")),
        "{reply:?}"
    );
    assert_eq!(body_text(&d.call(get("/small")).await.unwrap()), "small");
    let _ = tx.send(());
    task.await.unwrap().unwrap();
}
