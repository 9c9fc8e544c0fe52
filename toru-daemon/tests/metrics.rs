//! `GET /metrics` of a real daemon (embedded backend) with a plugin that served requests and
//! did KV operations: accepted by `promtool check metrics`, the figures are what happened, and
//! only a caller or a scraper with the metrics token may read them.

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use http::{Method, StatusCode};
use support::api::{ApiDaemon, test_config};
use support::fixtures::{hello_rust, install};
use support::harness::Dirs;
use toructl::{Client, Endpoint};

/// Every sample of an exposition, by its name with labels as written (`name{a="b"}`).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            (series.to_owned(), value)
        })
        .collect()
}

/// Runs `promtool check metrics` on `text`; fails the test with promtool's complaints.
fn promtool_check(text: &str) {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "cannot run promtool ({e}): install the Debian package `prometheus`, which \
             scripts/test lists"
        ),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refused the exposition:\n{}{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_plugins_metrics_pass_promtool_and_count_what_happened() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    let d = ApiDaemon::start(&dirs).await;
    d.enable(&d.local, "hello-rust").await;
    let route = |path: &str| format!("/api/plugins/hello-rust/route{path}");

    // 2 KV gets and 2 KV sets, a body of 5 bytes, one 404 from the plugin: 5 requests.
    let mut response_bytes = 0;
    for (method, path, body) in [
        (Method::POST, "/counter/increment", None),
        (Method::POST, "/counter/increment", None),
        (Method::POST, "/echo", Some(b"hello".to_vec())),
        (Method::GET, "/greeting", None),
        (Method::GET, "/nothing-here", None),
    ] {
        let r = d.local.raw(method, &route(path), body).await.unwrap();
        response_bytes += r.body.len();
    }
    // A request for a plugin that was never discovered has no plugin to count under.
    let r = d
        .local
        .raw(Method::GET, "/api/plugins/nobody/route/x", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = d.local.raw(Method::GET, "/metrics", None).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers[http::header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    // The usage route takes a reading when none is fresh: the one the scrape then shows.
    let usage = d.local.usage("hello-rust").await.unwrap();
    let memory = usage
        .current
        .and_then(|c| c.memory_bytes)
        .expect("memory read from /proc");
    let text = d.local.metrics().await.unwrap();
    promtool_check(&text);

    let s = samples(&text);
    let get = |series: &str| {
        *s.get(series)
            .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
    };
    let p = "plugin=\"hello-rust\"";
    assert_eq!(get(&format!("toru_plugin_up{{{p}}}")), 1.0);
    assert_eq!(
        get(&format!("toru_plugin_state{{{p},state=\"running\"}}")),
        1.0
    );
    assert_eq!(get("toru_plugins{state=\"running\"}"), 1.0);
    assert_eq!(
        get(&format!("toru_plugin_requests_total{{{p},code=\"2xx\"}}")),
        4.0
    );
    assert_eq!(
        get(&format!("toru_plugin_requests_total{{{p},code=\"4xx\"}}")),
        1.0
    );
    assert_eq!(
        get(&format!(
            "toru_plugin_request_duration_seconds_bucket{{{p},le=\"+Inf\"}}"
        )),
        5.0
    );
    assert_eq!(
        get(&format!(
            "toru_plugin_request_duration_seconds_count{{{p}}}"
        )),
        5.0
    );
    assert!(get(&format!("toru_plugin_request_duration_seconds_sum{{{p}}}")) > 0.0);
    assert_eq!(get(&format!("toru_plugin_request_bytes_total{{{p}}}")), 5.0);
    assert_eq!(
        get(&format!("toru_plugin_response_bytes_total{{{p}}}")),
        response_bytes as f64
    );
    assert_eq!(
        get(&format!(
            "toru_plugin_kv_operations_total{{{p},op=\"set\"}}"
        )),
        2.0
    );
    assert_eq!(
        get(&format!(
            "toru_plugin_kv_operations_total{{{p},op=\"get\"}}"
        )),
        2.0
    );
    assert_eq!(get(&format!("toru_plugin_kv_errors_total{{{p}}}")), 0.0);
    assert_eq!(get(&format!("toru_plugin_restarts_total{{{p}}}")), 0.0);
    assert!(get(&format!("toru_plugin_uptime_seconds{{{p}}}")) > 0.0);
    // The resource sampler's reading, as the usage route showed it.
    assert_eq!(
        get(&format!("toru_plugin_memory_bytes{{{p}}}")),
        memory as f64
    );
    // Present, though a plugin this idle may not have used a clock tick (10 ms) yet.
    assert!(get(&format!("toru_plugin_cpu_seconds_total{{{p}}}")) >= 0.0);
    assert!(get(&format!("toru_plugin_tasks{{{p}}}")) >= 1.0);
    assert!(!text.contains("plugin=\"nobody\""));
    // The daemon's own figures.
    assert_eq!(
        get(&format!(
            "toru_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    assert!(get("toru_http_requests_total{code=\"2xx\"}") >= 4.0);
    assert!(get("toru_http_requests_total{code=\"4xx\"}") >= 2.0);
    // This request's own connection is open while the answer is written.
    assert!(get("toru_http_connections{listener=\"unix\"}") >= 1.0);
    assert!(get("process_resident_memory_bytes") > 0.0);
    assert!(get("process_open_fds") > 0.0);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_callers_and_scrapers_with_the_token_read_metrics() {
    let dirs = Dirs::new();
    let token = "3f1c0a9e5b7d4c2a8e6f1b3d5c7a9e0f";
    let token_file = dirs.root.path().join("metrics.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let config = toru_daemon::config::Config {
        metrics_token_file: Some(token_file.clone()),
        ..test_config(&dirs)
    };
    let d = ApiDaemon::start_with(config).await;
    d.create_user("watcher", "viewer").await;
    let tcp = |session: Option<String>| {
        Client::new(Endpoint::Tcp(d.daemon.http_addr.to_string()), session)
    };
    let scrape = |client: Client, authorization: Option<String>| async move {
        let headers: Vec<(&str, &str)> = authorization
            .as_deref()
            .map(|a| ("authorization", a))
            .into_iter()
            .collect();
        client
            .request(Method::GET, "/metrics", &headers, None)
            .await
            .unwrap()
            .status
    };

    // The scraper's token, over TCP without a session.
    let bearer = |t: &str| Some(format!("Bearer {t}"));
    assert_eq!(scrape(tcp(None), bearer(token)).await, StatusCode::OK);
    // Nothing else: no credentials, a wrong token, a prefix of it, another scheme.
    let prefix = &token[..token.len() - 1];
    for authorization in [
        None,
        bearer("wrong-token-wrong-token"),
        bearer(prefix),
        Some(format!("Basic {token}")),
    ] {
        assert_eq!(
            scrape(tcp(None), authorization.clone()).await,
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
    }
    // The token opens /metrics only.
    let r = tcp(None)
        .request(
            Method::GET,
            "/api/status",
            &[("authorization", &format!("Bearer {token}"))],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A viewer's session and the local socket read it too.
    let viewer = d.login_as("watcher", support::api::PASSWORD).await;
    assert_eq!(scrape(viewer, None).await, StatusCode::OK);
    assert_eq!(scrape(d.local.clone(), None).await, StatusCode::OK);
    d.stop().await;

    // A token too short to be safe stops the daemon from starting, naming the file.
    std::fs::write(&token_file, "short\n").unwrap();
    let config = toru_daemon::config::Config {
        metrics_token_file: Some(token_file),
        ..test_config(&dirs)
    };
    let err = toru_daemon::Daemon::start(&config, tokio_util::sync::CancellationToken::new())
        .await
        .err()
        .expect("a short token is refused");
    assert!(err.to_string().contains("metrics.token"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_file_a_bearer_token_is_refused() {
    let dirs = Dirs::new();
    let d = ApiDaemon::start(&dirs).await;
    let r = d
        .anonymous
        .request(
            Method::GET,
            "/metrics",
            &[("authorization", "Bearer 0123456789abcdef0123")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The error body is the API's.
    assert_eq!(support::api::error_code(&r.body), "unauthorized");
    d.stop().await;
}
