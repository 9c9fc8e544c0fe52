//! The HTTP API of a real daemon (embedded backend) on loopback and on its Unix socket: auth,
//! plugin lifecycle through HTTP, forwarding, KV, logs.

mod support;

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::api::{ApiDaemon, PASSWORD, error_code, session_token, test_config, wait_restarted};
use support::fixtures::{hello_rust, install, install_python_fixture, script};
use support::harness::Dirs;
use toru_daemon::api::csp::{
    DASHBOARD_POLICY, NOSNIFF, PLUGIN_RESPONSE_POLICY, VIEW_FRAME_PATH, VIEW_FRAME_POLICY,
};
use toru_daemon::config::Config;
use toructl::{Client, Endpoint};

/// Every route that needs a session, with a method and a body where it takes one.
const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/api/status"),
    ("GET", "/api/plugins"),
    ("GET", "/api/plugins/hello-rust"),
    ("POST", "/api/plugins/hello-rust/enable"),
    ("POST", "/api/plugins/hello-rust/disable"),
    ("GET", "/api/plugins/hello-rust/bundle.js"),
    ("GET", "/api/plugins/hello-rust/route/greeting"),
    ("POST", "/api/plugins/hello-rust/route/counter/increment"),
    ("GET", "/api/plugins/hello-rust/kv"),
    ("GET", "/api/plugins/hello-rust/kv/counter"),
    ("PUT", "/api/plugins/hello-rust/kv/counter"),
    ("DELETE", "/api/plugins/hello-rust/kv/counter"),
    ("GET", "/api/plugins/hello-rust/logs"),
    ("GET", "/api/plugins/hello-rust/logs/follow"),
    ("GET", "/api/events"),
    ("GET", "/api/events/follow"),
    ("GET", "/api/discovery-failures"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("PUT", "/api/users/admin/password"),
    ("GET", "/api/auth/me"),
    ("GET", "/metrics"),
];

async fn started() -> (Dirs, ApiDaemon) {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    let d = ApiDaemon::start(&dirs).await;
    d.create_admin().await;
    (dirs, d)
}

/// Reads `path` as `T`, and checks that `T` written back is the answer byte for byte: the
/// `toru-api` type describes the answer completely, with no field lost, renamed or reordered.
async fn answers_exactly_as<T: serde::de::DeserializeOwned + serde::Serialize>(
    client: &Client,
    path: &str,
) -> T {
    let r = client.raw(Method::GET, path, None).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{path}");
    let body = String::from_utf8_lossy(&r.body);
    let typed: T =
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    assert_eq!(serde_json::to_string(&typed).unwrap(), body, "{path}");
    typed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_exactly_its_toru_api_type() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    script(&dirs.plugins(), "garbage", "echo 'not json'");
    let d = ApiDaemon::start(&dirs).await;
    d.create_admin().await;
    let s = d.login().await;
    d.enable(&s, "hello-rust").await;
    let _: Value = s
        .send_json(
            Method::PUT,
            "/api/plugins/hello-rust/kv/counter",
            &json!({"value": "7"}),
        )
        .await
        .unwrap();

    let health: toru_api::Health = answers_exactly_as(&d.anonymous, "/api/health").await;
    assert_eq!(health.status, toru_api::HealthStatus::Ok);
    let me: toru_api::Me = answers_exactly_as(&s, "/api/auth/me").await;
    assert_eq!(me.method, toru_api::AuthMethod::Password);
    let me: toru_api::Me = answers_exactly_as(&d.local, "/api/auth/me").await;
    assert_eq!(me.method, toru_api::AuthMethod::Local);
    let status: toru_api::Status = answers_exactly_as(&s, "/api/status").await;
    assert_eq!(status.plugins.running, 1);
    let plugins: Vec<toru_api::Plugin> = answers_exactly_as(&s, "/api/plugins").await;
    assert_eq!(plugins[0].status.state, toru_api::PluginState::Running);
    let details: toru_api::PluginDetails = answers_exactly_as(&s, "/api/plugins/hello-rust").await;
    assert!(!details.events.is_empty());
    let events: Vec<toru_api::Event> = answers_exactly_as(&s, "/api/events").await;
    assert!(
        events
            .iter()
            .any(|e| e.kind == toru_api::EventKind::Started)
    );
    let skipped: Vec<toru_api::DiscoveryFailure> =
        answers_exactly_as(&s, "/api/discovery-failures").await;
    assert_eq!(skipped.len(), 1);
    let users: Vec<toru_api::User> = answers_exactly_as(&s, "/api/users").await;
    assert_eq!(users[0].username, "admin");
    let keys: toru_api::KvKeys = answers_exactly_as(&s, "/api/plugins/hello-rust/kv").await;
    assert!(keys.keys.contains(&"counter".to_owned()));
    let entry: toru_api::KvEntry =
        answers_exactly_as(&s, "/api/plugins/hello-rust/kv/counter").await;
    assert_eq!(entry.value, "7");
    let page: toru_api::LogPage = answers_exactly_as(&s, "/api/plugins/hello-rust/logs").await;
    assert!(!page.entries.is_empty());
    // An error answer is the one error body, with a code the contract names.
    let r = s.raw(Method::GET, "/api/plugins/nope", None).await.unwrap();
    let error: toru_api::ErrorBody = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(error.error.code, toru_api::ErrorCode::NotFound);
    assert_eq!(r.status.as_u16(), error.error.code.status());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_without_a_session_and_names_only_real_routes() {
    let (_dirs, d) = started().await;
    let r = d
        .anonymous
        .raw(Method::GET, "/api/openapi.json", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    let doc: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Every route the document's list names is one the router has: asked without a session,
    // none is a "no such route" 404 or a 405.
    for (method, path) in toru_daemon::api::documented_routes() {
        let concrete = path
            .replace("{id}", "hello-rust")
            .replace("{key}", "counter")
            .replace("{path}", "greeting")
            .replace("{name}", "admin");
        let r = d
            .anonymous
            .raw(method.clone(), &concrete, Some(b"{}".to_vec()))
            .await
            .unwrap();
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let no_route = r.status == StatusCode::NOT_FOUND
            && String::from_utf8_lossy(&r.body).contains("no such route");
        assert!(!no_route, "{method} {path} is not a route of the router");
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protected_route_needs_a_session() {
    let (_dirs, d) = started().await;
    for (method, path) in PROTECTED {
        let method: Method = method.parse().unwrap();
        let r = d
            .anonymous
            .raw(method.clone(), path, Some(b"{}".to_vec()))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(error_code(&r.body), "unauthorized", "{method} {path}");
        // A made-up session is no better.
        let forged = Client::new(
            Endpoint::Tcp(d.daemon.http_addr.to_string()),
            Some("x".repeat(43)),
        );
        let r = forged
            .raw(method.clone(), path, Some(b"{}".to_vec()))
            .await
            .unwrap();
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "forged session: {method} {path}"
        );
    }
    // Open routes stay open.
    let r = d
        .anonymous
        .raw(Method::GET, "/api/health", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    // Unknown API paths are JSON 404s, not the dashboard.
    let r = d
        .anonymous
        .raw(Method::GET, "/api/nope", None)
        .await
        .unwrap();
    assert_eq!(
        (r.status, error_code(&r.body).as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_safe_cookie_and_logout_ends_the_session() {
    let (_dirs, d) = started().await;
    let login = |password: &str| json!({"username": "admin", "password": password});
    // Wrong password, and a user that does not exist: the same answer.
    for body in [
        login("wrong password"),
        json!({"username": "nobody", "password": PASSWORD}),
    ] {
        let r = d
            .anonymous
            .raw(
                Method::POST,
                "/api/auth/login",
                Some(body.to_string().into_bytes()),
            )
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(&r.body), "invalid_credentials");
        assert!(r.headers.get(http::header::SET_COOKIE).is_none());
    }
    let r = d
        .anonymous
        .raw(
            Method::POST,
            "/api/auth/login",
            Some(login(PASSWORD).to_string().into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let cookie = r
        .headers
        .get(http::header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
    let token = session_token(&r.headers).unwrap();
    assert_eq!(token.len(), 43, "256 random bits");

    // Behind a TLS proxy the cookie is Secure.
    let r = d
        .anonymous
        .request(
            Method::POST,
            "/api/auth/login",
            &[("x-forwarded-proto", "https")],
            Some(login(PASSWORD).to_string().into_bytes()),
        )
        .await
        .unwrap();
    assert!(
        r.headers
            .get(http::header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("; Secure")
    );

    let session = Client::new(Endpoint::Tcp(d.daemon.http_addr.to_string()), Some(token));
    let me: Value = session.get("/api/auth/me").await.unwrap();
    assert_eq!(
        me,
        json!({"username": "admin", "method": "password", "role": "admin"})
    );
    let r = session
        .raw(Method::POST, "/api/auth/logout", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = session
        .raw(Method::GET, "/api/auth/me", None)
        .await
        .unwrap();
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the session is gone after logout"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_are_rate_limited() {
    let (_dirs, d) = started().await;
    let wrong = json!({"username": "admin", "password": "wrong password"}).to_string();
    // All six at once: sent one after another, each slow argon2 check on a loaded machine could
    // give the limiter time to refill (one attempt per 12 s) and hide the limit.
    let attempts = (0..6).map(|_| {
        d.anonymous.raw(
            Method::POST,
            "/api/auth/login",
            Some(wrong.clone().into_bytes()),
        )
    });
    let mut statuses = Vec::new();
    for r in futures::future::join_all(attempts).await {
        let r = r.unwrap();
        statuses.push(r.status.as_u16());
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(error_code(&r.body), "rate_limited");
            let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=12).contains(&retry), "Retry-After {retry}");
        }
    }
    // A check that waited too long for a hashing thread is 503 `busy`, still counted.
    let checked = statuses.iter().filter(|s| matches!(s, 401 | 503)).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (checked, limited),
        (5, 1),
        "5 attempts per user and address, then 429: {statuses:?}"
    );
    // Even the right password is refused while limited: no guessing through the limit.
    let right = json!({"username": "admin", "password": PASSWORD}).to_string();
    let r = d
        .anonymous
        .raw(Method::POST, "/api/auth/login", Some(right.into_bytes()))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_state_changes_are_refused() {
    let (_dirs, d) = started().await;
    let session = d.login().await;
    let host = d.daemon.http_addr.to_string();
    let same = format!("http://{host}");
    for (headers, expected) in [
        (
            vec![("origin", "http://evil.example")],
            StatusCode::FORBIDDEN,
        ),
        (
            vec![("sec-fetch-site", "cross-site")],
            StatusCode::FORBIDDEN,
        ),
        (
            vec![("origin", same.as_str()), ("sec-fetch-site", "same-origin")],
            StatusCode::OK,
        ),
    ] {
        let r = session
            .request(
                Method::POST,
                "/api/plugins/hello-rust/enable",
                &headers,
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status, expected, "{headers:?}");
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_follow_enable_and_disable_and_kv_is_shared() {
    let (_dirs, d) = started().await;
    let s = d.login().await;
    // Before: a disabled plugin's routes do not exist.
    let r = s
        .raw(Method::GET, "/api/plugins/hello-rust/route/greeting", None)
        .await
        .unwrap();
    assert_eq!(
        (r.status, error_code(&r.body).as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );

    let p: Value = s
        .send_json(Method::POST, "/api/plugins/hello-rust/enable", &json!({}))
        .await
        .unwrap();
    assert_eq!(p["status"]["enabled"], true);
    d.wait_state(&s, "hello-rust", "running").await;

    // The route answers, with the logged-in user forwarded.
    let greeting: Value = s
        .get("/api/plugins/hello-rust/route/greeting")
        .await
        .unwrap();
    assert_eq!(greeting["message"], "Hello, admin!");

    // KV through the API is the plugin's KV.
    let _: Value = s
        .send_json(
            Method::PUT,
            "/api/plugins/hello-rust/kv/counter",
            &json!({"value": "41"}),
        )
        .await
        .unwrap();
    let count: Value = s
        .send_json(
            Method::POST,
            "/api/plugins/hello-rust/route/counter/increment",
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(count["count"], 42, "the plugin read what the API wrote");
    let entry: Value = s.get("/api/plugins/hello-rust/kv/counter").await.unwrap();
    assert_eq!(entry, json!({"key": "counter", "value": "42"}));
    let keys: Value = s
        .get("/api/plugins/hello-rust/kv?prefix=count")
        .await
        .unwrap();
    assert_eq!(keys, json!({"keys": ["counter"]}));
    // Keys with characters that need encoding round-trip.
    let _: Value = s
        .send_json(
            Method::PUT,
            "/api/plugins/hello-rust/kv/a%2Fb%20c",
            &json!({"value": "x"}),
        )
        .await
        .unwrap();
    let odd: Value = s.get("/api/plugins/hello-rust/kv/a%2Fb%20c").await.unwrap();
    assert_eq!(odd["key"], "a/b c");
    let r = s
        .raw(Method::DELETE, "/api/plugins/hello-rust/kv/a%2Fb%20c", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = s
        .raw(Method::GET, "/api/plugins/hello-rust/kv/a%2Fb%20c", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Another plugin id sees nothing of it (and an unknown one is 404).
    let r = s
        .raw(Method::GET, "/api/plugins/other/kv/counter", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Disable and the routes are gone again.
    let p: Value = s
        .send_json(Method::POST, "/api/plugins/hello-rust/disable", &json!({}))
        .await
        .unwrap();
    assert_eq!(p["status"]["state"], "disabled");
    let r = s
        .raw(Method::GET, "/api/plugins/hello-rust/route/greeting", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The reserved channel is never reachable from outside.
    d.enable(&s, "hello-rust").await;
    let r = s
        .raw(
            Method::GET,
            "/api/plugins/hello-rust/route/_toru/bundle.js",
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    d.stop().await;
}

/// Sends a raw HTTP/1.1 request head, then `body_chunks` chunks of 64 KiB (ignoring write
/// errors: the server may answer and close early), and returns the status line.
async fn raw_exchange(addr: std::net::SocketAddr, head: String, body_chunks: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
    for _ in 0..body_chunks {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let mut response = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&response[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_with_or_without_content_length() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    // Room for a 1 MiB echo on a loaded machine (the default test timeout is 1 s).
    let d = ApiDaemon::start_with(Config {
        request_timeout: Duration::from_secs(30),
        ..test_config(&dirs)
    })
    .await;
    d.create_admin().await;
    let s = d.login().await;
    d.enable(&s, "hello-rust").await;
    let token = {
        let body = json!({"username": "admin", "password": PASSWORD}).to_string();
        let r = d
            .anonymous
            .raw(Method::POST, "/api/auth/login", Some(body.into_bytes()))
            .await
            .unwrap();
        session_token(&r.headers).unwrap()
    };
    let path = "/api/plugins/hello-rust/route/echo";
    // Declared too large: refused from the header alone, before any body is read.
    let declared = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: toru_session={token}\r\ncontent-length: {}\r\n\r\n",
        4 * 1024 * 1024 + 1
    );
    assert_eq!(
        raw_exchange(d.daemon.http_addr, declared, 0).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    // Chunked, no length: counted as it arrives and cut off past 4 MiB (65 chunks of 64 KiB).
    let chunked = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: toru_session={token}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    assert_eq!(
        raw_exchange(d.daemon.http_addr, chunked, 80).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    // Just under the limit is forwarded.
    let ok = s
        .raw(Method::POST, path, Some(vec![b'x'; 1024 * 1024]))
        .await
        .unwrap();
    assert_eq!(ok.status, StatusCode::OK);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_or_hung_plugin_gives_503_or_504_and_the_daemon_stays_up() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    let hang = dirs.plugins().join("hang.binary");
    std::os::unix::fs::symlink(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/misbehaving_plugin.py"),
        &hang,
    )
    .unwrap();
    let d = ApiDaemon::start(&dirs).await;
    d.create_admin().await;
    let s = d.login().await;

    // Hung: it answered init, never answers a request (request timeout 1 s).
    d.enable(&s, "hang").await;
    let r = s
        .raw(Method::GET, "/api/plugins/hang/route/anything", None)
        .await
        .unwrap();
    assert_eq!(
        (r.status, error_code(&r.body).as_str()),
        (StatusCode::GATEWAY_TIMEOUT, "plugin_timeout")
    );

    // Dead: kill the process; until it is restarted its routes are unavailable.
    let p = d.enable(&s, "hello-rust").await;
    let pid = p["status"]["pid"].as_u64().unwrap();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        let r = s
            .raw(Method::GET, "/api/plugins/hello-rust/route/greeting", None)
            .await
            .unwrap();
        if r.status != StatusCode::OK {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still answering after kill -9"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(
        (status.status, error_code(&status.body).as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "plugin_unavailable")
    );
    // The daemon is fine and the supervisor brings the plugin back (a new process: the status
    // may still say `running` for the killed one until the supervisor has seen it exit).
    wait_restarted(&s, "hello-rust", pid).await;
    let greeting: Value = s
        .get("/api/plugins/hello-rust/route/greeting")
        .await
        .unwrap();
    assert_eq!(greeting["message"], "Hello, admin!");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_page_newest_first_and_filter_by_level() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    // A plugin that logs one line per level and exits; each (re)start adds four lines.
    let meta = support::fixtures::metadata_json("chatty");
    script(
        &dirs.plugins(),
        "chatty",
        &format!(
            "if [ \"$1\" = --metadata ]; then echo '{meta}'; exit 0; fi\n\
             echo '<3>an error'; echo '<4>a warning'; echo '<6>some info'; echo '<7>a detail'; exit 1"
        ),
    );
    let d = ApiDaemon::start(&dirs).await;
    d.create_admin().await;
    let s = d.login().await;

    d.enable(&s, "hello-rust").await;
    for _ in 0..25 {
        let _: Value = s
            .send_json(
                Method::POST,
                "/api/plugins/hello-rust/route/counter/increment",
                &json!({}),
            )
            .await
            .unwrap();
    }
    // The writer batches; wait for the last line to land.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let first: Value = loop {
        let page: Value = s
            .get("/api/plugins/hello-rust/logs?page=0&page_size=10")
            .await
            .unwrap();
        if page["entries"][0]["message"] == "counter incremented to 25" {
            break page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "last line never arrived: {page:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let messages = |page: &Value| -> Vec<String> {
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(first["entries"].as_array().unwrap().len(), 10);
    assert_eq!(first["has_more"], true);
    assert_eq!(
        messages(&first)[..2],
        ["counter incremented to 25", "counter incremented to 24"]
    );
    let second: Value = s
        .get("/api/plugins/hello-rust/logs?page=1&page_size=10")
        .await
        .unwrap();
    assert_eq!(messages(&second)[0], "counter incremented to 15");
    let last: Value = s
        .get("/api/plugins/hello-rust/logs?page=2&page_size=10")
        .await
        .unwrap();
    assert_eq!(
        last["has_more"], false,
        "25 increments + the init line = 26 entries"
    );
    let init_line = messages(&last).last().unwrap().clone();
    assert!(
        init_line.starts_with(&format!(
            "initialised for instance {};",
            d.daemon.plugins.instance_id()
        )),
        "{init_line}"
    );
    for entry in first["entries"].as_array().unwrap() {
        assert_eq!(entry["plugin"], "hello-rust");
        assert_eq!(entry["level"], "info");
        assert!(entry["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    // Level filter: `warn` is warnings and errors, `error` only errors.
    let _: Value = s
        .send_json(Method::POST, "/api/plugins/chatty/enable", &json!({}))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let all: Value = s
            .get("/api/plugins/chatty/logs?page_size=100")
            .await
            .unwrap();
        if all["entries"].as_array().unwrap().len() >= 4 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "chatty never logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warn: Value = s
        .get("/api/plugins/chatty/logs?page_size=100&level=warn")
        .await
        .unwrap();
    let levels: std::collections::BTreeSet<_> = warn["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["level"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(levels, ["error", "warn"].map(String::from).into());
    let error: Value = s
        .get("/api/plugins/chatty/logs?page_size=100&level=error")
        .await
        .unwrap();
    assert!(
        error["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["message"] == "an error")
    );
    // Bad parameters are 400s, not empty pages.
    for bad in ["level=loud", "page_size=0", "page_size=100000", "page=x"] {
        let r = s
            .raw(
                Method::GET,
                &format!("/api/plugins/chatty/logs?{bad}"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unix_socket_authorises_by_peer_credentials() {
    let (dirs, d) = started().await;
    // This test runs as root (CI does): root is let in without a password.
    let status: Value = d.local.get("/api/status").await.unwrap();
    assert_eq!(status["user"], "root");
    assert_eq!(status["backend"], "embedded");
    let me: Value = d.local.get("/api/auth/me").await.unwrap();
    assert_eq!(me["method"], "local");

    // Another user (nobody) reaching the socket is refused by its credentials. The socket is
    // 0660 root-owned, so open it up first: this checks the daemon's check, not the file mode.
    use std::os::unix::fs::PermissionsExt;
    for path in [dirs.root.path().to_owned(), dirs.runtime(), d.socket()] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(support::fixtures::toructl())
        .arg("--socket")
        .arg(d.socket())
        .arg("status")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "refused by the daemon: {stderr}"
    );
    assert!(stderr.contains("may not use the local socket"), "{stderr}");
    assert!(out.stdout.is_empty());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_status_report_what_happened() {
    let (_dirs, d) = started().await;
    let s = d.login().await;
    d.enable(&s, "hello-rust").await;
    let events: Value = s.get("/api/events?plugin=hello-rust").await.unwrap();
    let kinds: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["started", "enabled", "discovered"], "newest first");
    let status: Value = s.get("/api/status").await.unwrap();
    assert_eq!(
        status["plugins"],
        json!({"total": 1, "enabled": 1, "running": 1, "failed": 0})
    );
    assert_eq!(status["instance_id"], d.daemon.plugins.instance_id());
    let details: Value = s.get("/api/plugins/hello-rust").await.unwrap();
    assert_eq!(
        details["unit_name"],
        Value::Null,
        "no systemd unit under the embedded backend"
    );
    assert_eq!(details["events"].as_array().unwrap().len(), 3);
    // Nothing was skipped at start; the list says so rather than being absent.
    let skipped: Value = s.get("/api/discovery-failures").await.unwrap();
    assert_eq!(skipped, json!([]));
    d.stop().await;
}

/// A crashing plugin's output that its logger did not write (no `<N>` prefix: a panic, a
/// traceback) is a warning, so `--level warn` finds it next to the logged error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_plugins_unprefixed_last_words_are_found_at_level_warn() {
    let dirs = Dirs::new();
    let meta = support::fixtures::metadata_json("crasher");
    script(
        &dirs.plugins(),
        "crasher",
        &format!(
            "if [ \"$1\" = --metadata ]; then echo '{meta}'; exit 0; fi\n\
             echo '<3>crashing' >&2\necho 'Traceback: boom' >&2\necho '<6>chatter' >&2\nexit 1"
        ),
    );
    let d = ApiDaemon::start(&dirs).await;
    let _: Value = d
        .local
        .send_json(Method::POST, "/api/plugins/crasher/enable", &json!({}))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let page: Value = d
            .local
            .get("/api/plugins/crasher/logs?level=warn&page_size=100")
            .await
            .unwrap();
        let entries = page["entries"].as_array().unwrap();
        let levels: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e["message"].as_str().unwrap(), e["level"].as_str().unwrap()))
            .collect();
        if levels.contains(&("Traceback: boom", "warn")) {
            assert!(levels.contains(&("crashing", "error")), "{levels:?}");
            assert!(
                !levels.iter().any(|(m, _)| *m == "chatter"),
                "info is below warn: {levels:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no unprefixed line at warn: {levels:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.stop().await;
}

/// Every change made through the API is an event with its actor: a dashboard user with the
/// address their request came from, or a local caller by uid; the daemon's own doings have
/// none. `?actor=`, `?kind=` and `?plugin=` filter them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_through_the_api_are_an_audit_trail_with_their_actor() {
    let (_dirs, d) = started().await;
    let s = d.login().await;
    d.enable(&s, "hello-rust").await;
    let _: Value = s
        .send_json(
            Method::PUT,
            "/api/plugins/hello-rust/kv/colour",
            &json!({"value": "teal"}),
        )
        .await
        .unwrap();
    let _: Value = d
        .local
        .send_json(Method::POST, "/api/plugins/hello-rust/disable", &json!({}))
        .await
        .unwrap();
    let _: Value = d
        .local
        .send_json(
            Method::POST,
            "/api/users",
            &json!({"username": "erin", "password": "correct horse battery"}),
        )
        .await
        .unwrap();

    let mine: Value = s.get("/api/events?actor=admin").await.unwrap();
    let kinds: Vec<_> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["kv_set", "enabled"], "{mine:#}");
    assert_eq!(
        mine[0]["actor"],
        json!({"via": "password", "name": "admin", "address": "127.0.0.1"})
    );
    assert_eq!(
        mine[0]["details"], "key \"colour\"",
        "the key, never the value"
    );

    let local: Value = s.get("/api/events?actor=uid%200").await.unwrap();
    let local = local.as_array().unwrap();
    // The admin user made by `create_admin` over the socket, then the disable and erin.
    assert_eq!(local.len(), 3, "{local:#?}");
    assert_eq!(local[0]["kind"], "user_created");
    assert_eq!(local[0]["user"], "erin");
    assert_eq!(local[0]["plugin_id"], Value::Null);
    assert_eq!(local[1]["kind"], "disabled");
    assert_eq!(local[0]["actor"]["via"], "local_socket");
    assert_eq!(local[0]["actor"]["uid"], 0);

    let started: Value = s
        .get("/api/events?plugin=hello-rust&kind=started")
        .await
        .unwrap();
    assert_eq!(started.as_array().unwrap().len(), 1);
    assert_eq!(started[0]["actor"], Value::Null, "the daemon started it");
    let bad = s
        .raw(Method::GET, "/api/events?kind=exploded", None)
        .await
        .unwrap();
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_binaries_are_listed_with_their_reason() {
    let dirs = Dirs::new();
    script(&dirs.plugins(), "garbage", "echo 'not json'");
    let d = ApiDaemon::start(&dirs).await;
    let skipped: Value = d.local.get("/api/discovery-failures").await.unwrap();
    assert_eq!(skipped.as_array().unwrap().len(), 1);
    assert!(
        skipped[0]["binary"]
            .as_str()
            .unwrap()
            .ends_with("garbage.binary")
    );
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("invalid metadata")
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_served_with_a_fallback_to_index_html() {
    let dirs = Dirs::new();
    let web = dirs.root.path().join("web");
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><div id=root></div>").unwrap();
    std::fs::write(web.join("assets/app.js"), "console.log(1)").unwrap();
    let mut config = test_config(&dirs);
    config.web_root = Some(web);
    let d = ApiDaemon::start_with(config).await;
    let asset = d
        .anonymous
        .raw(Method::GET, "/assets/app.js", None)
        .await
        .unwrap();
    assert_eq!(asset.body, "console.log(1)");
    // A client-side route reloads to the app, an unknown API path stays a JSON 404.
    let spa = d
        .anonymous
        .raw(Method::GET, "/plugins/hello-rust", None)
        .await
        .unwrap();
    assert_eq!(spa.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&spa.body).contains("id=root"));
    let api = d
        .anonymous
        .raw(Method::GET, "/api/unknown", None)
        .await
        .unwrap();
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&api.body), "not_found");
    d.stop().await;
}

/// The dashboard's files are served precompressed when the build wrote a `.br` or `.gz` copy and
/// the client accepts it (brotli first), with `Vary`; hashed assets are immutable, the rest (and
/// the `index.html` fallback for a missing asset) revalidated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_files_are_served_precompressed_and_hashed_assets_are_immutable() {
    use support::raw::{exchange, request};
    let dirs = Dirs::new();
    let web = dirs.root.path().join("web");
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><div id=root></div>").unwrap();
    let js = web.join("assets/index-AbC123.js");
    std::fs::write(&js, "console.log('plain')").unwrap();
    // The daemon never decodes the copies; marker bytes show which one was sent.
    std::fs::write(web.join("assets/index-AbC123.js.br"), b"BROTLI").unwrap();
    std::fs::write(web.join("assets/index-AbC123.js.gz"), b"GZIP").unwrap();
    let mut config = test_config(&dirs);
    config.web_root = Some(web);
    let d = ApiDaemon::start_with(config).await;
    let addr = d.daemon.http_addr;
    let get = |path: &'static str, accept: Option<&'static str>| async move {
        let header = accept.map(|a| format!("accept-encoding: {a}"));
        let headers: Vec<&str> = header.iter().map(String::as_str).collect();
        exchange(
            addr,
            &request("GET", path, &addr.to_string(), &headers, b""),
        )
        .await
    };
    let immutable = "public, max-age=31536000, immutable";
    for (accept, body, encoding) in [
        (Some("gzip, deflate, br, zstd"), &b"BROTLI"[..], Some("br")),
        (Some("gzip"), b"GZIP", Some("gzip")),
        (Some("br;q=0, gzip"), b"GZIP", Some("gzip")),
        (None, b"console.log('plain')", None),
        (Some("identity"), b"console.log('plain')", None),
    ] {
        let r = get("/assets/index-AbC123.js", accept).await;
        assert_eq!(r.status, 200, "{accept:?}");
        assert_eq!(r.body, body, "{accept:?}");
        assert_eq!(r.header("content-encoding"), encoding, "{accept:?}");
        assert_eq!(r.header("content-length"), Some(&*body.len().to_string()));
        assert!(r.header("content-type").unwrap().contains("javascript"));
        assert_eq!(r.header("vary"), Some("accept-encoding"));
        assert_eq!(r.header("cache-control"), Some(immutable));
    }
    // No copy of index.html: served as is, and revalidated.
    let index = get("/", Some("br")).await;
    assert_eq!(index.header("content-encoding"), None);
    assert!(String::from_utf8_lossy(&index.body).contains("id=root"));
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    let missing = get("/assets/index-Gone99.js", Some("br")).await;
    assert!(String::from_utf8_lossy(&missing.body).contains("id=root"));
    assert_eq!(
        missing.header("cache-control"),
        Some("no-cache"),
        "the fallback for a missing asset is not kept for a year"
    );
    d.stop().await;
}

/// Every `Content-Security-Policy` of a response, in order.
fn policies(r: &toructl::client::Response) -> Vec<&str> {
    r.headers
        .get_all(http::header::CONTENT_SECURITY_POLICY)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

/// Its `X-Content-Type-Options`, if any.
fn content_type_options(r: &toructl::client::Response) -> Option<&str> {
    r.headers
        .get(http::header::X_CONTENT_TYPE_OPTIONS)
        .map(|v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_document_carries_its_content_security_policy() {
    let dirs = Dirs::new();
    let web = dirs.root.path().join("web");
    let frame_file = web.join(VIEW_FRAME_PATH.trim_start_matches('/'));
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><div id=root></div>").unwrap();
    std::fs::write(web.join("assets/app.js"), "console.log(1)").unwrap();
    std::fs::write(&frame_file, "<!doctype html><div id=frame></div>").unwrap();
    let mut config = test_config(&dirs);
    config.web_root = Some(web);
    let d = ApiDaemon::start_with(config).await;

    // (path, the file it serves, its policy)
    let cases = [
        ("/", "id=root", DASHBOARD_POLICY),
        ("/plugins/x", "id=root", DASHBOARD_POLICY),
        ("/assets/app.js", "console.log(1)", DASHBOARD_POLICY),
        (VIEW_FRAME_PATH, "id=frame", VIEW_FRAME_POLICY),
        // Another spelling of the frame's path is the same file, with the same policy.
        ("/view%2Dframe.html", "id=frame", VIEW_FRAME_POLICY),
    ];
    for (path, content, policy) in cases {
        let r = d.anonymous.raw(Method::GET, path, None).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(String::from_utf8_lossy(&r.body).contains(content), "{path}");
        assert_eq!(policies(&r), [policy], "{path}");
        assert_eq!(content_type_options(&r), Some(NOSNIFF), "{path}");
    }

    // Without a frame file its path is the app's fallback, and the fallback is the dashboard.
    std::fs::remove_file(&frame_file).unwrap();
    let r = d
        .anonymous
        .raw(Method::GET, VIEW_FRAME_PATH, None)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&r.body).contains("id=root"));
    assert_eq!(policies(&r), [DASHBOARD_POLICY]);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_not_built_page_carries_the_dashboards_policy() {
    let dirs = Dirs::new();
    let d = ApiDaemon::start(&dirs).await;
    for path in ["/", "/plugins/x", VIEW_FRAME_PATH] {
        let r = d.anonymous.raw(Method::GET, path, None).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(
            String::from_utf8_lossy(&r.body).contains("The dashboard is not built"),
            "{path}"
        );
        assert_eq!(policies(&r), [DASHBOARD_POLICY], "{path}");
        assert_eq!(content_type_options(&r), Some(NOSNIFF), "{path}");
    }
    d.stop().await;
}

/// The policy `tests/fixtures/html_plugin.py` sends with its page.
const PLUGINS_OWN_POLICY: &str = "script-src 'unsafe-inline' *";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugins_answers_are_sandboxed_next_to_the_plugins_own_policy() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    install_python_fixture(&dirs.plugins(), "html_plugin.py", "html");
    let d = ApiDaemon::start(&dirs).await;
    d.create_admin().await;
    let s = d.login().await;
    d.enable(&s, "hello-rust").await;
    d.enable(&s, "html").await;

    // A plugin that sends no policy: the sandbox alone.
    let r = s
        .raw(Method::GET, "/api/plugins/hello-rust/route/greeting", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(policies(&r), [PLUGIN_RESPONSE_POLICY]);

    // An HTML page with a policy of its own that allows any script: both policies reach the
    // browser, which enforces both, so the page runs no script.
    let r = s
        .raw(Method::GET, "/api/plugins/html/route/page", None)
        .await
        .unwrap();
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(policies(&r), [PLUGINS_OWN_POLICY, PLUGIN_RESPONSE_POLICY]);

    // The view's bundle is only ever JavaScript.
    let r = s
        .raw(Method::GET, "/api/plugins/hello-rust/bundle.js", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(content_type_options(&r), Some(NOSNIFF));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_forwarded_exactly_minus_what_must_not_cross() {
    let (_dirs, d) = started().await;
    let s = d.login().await;
    d.enable(&s, "hello-rust").await;
    // Every byte value in the body, a query with encoded characters, custom and hop-by-hop
    // headers, and the session cookie.
    let body: Vec<u8> = (0..=255u8).collect();
    let r = s
        .request(
            Method::PUT,
            "/api/plugins/hello-rust/route/echo/sub%20path?a=1&b=%C3%A9&a=2",
            &[
                ("x-custom", "kept"),
                ("x-custom", "twice"),
                ("te", "trailers"),
                ("proxy-authorization", "secret"),
            ],
            Some(body.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let echo: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(
        echo["path"], "/echo/sub%20path",
        "the path below the prefix, as sent"
    );
    assert_eq!(echo["query"], "a=1&b=%C3%A9&a=2", "the raw query");
    assert_eq!(echo["user"], "admin", "the authenticated user is forwarded");
    assert_eq!(
        echo["body"],
        toru_plugin_api::protocol::encode_body(&body),
        "binary-safe body"
    );
    let headers: Vec<(String, String)> = serde_json::from_value(echo["headers"].clone()).unwrap();
    let values = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(
        values("x-custom"),
        ["kept", "twice"],
        "repeated headers keep their order"
    );
    assert!(
        values("cookie").is_empty(),
        "the dashboard session never reaches a plugin"
    );
    for hop in [
        "te",
        "proxy-authorization",
        "connection",
        "host",
        "content-length",
    ] {
        assert!(values(hop).is_empty(), "{hop} must not be forwarded");
    }
    assert_eq!(values("content-type"), ["application/json"]);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_installed_while_running_are_found() {
    let dirs = Dirs::new();
    std::fs::create_dir_all(dirs.plugins()).unwrap();
    let d = ApiDaemon::start(&dirs).await;
    assert!(d.daemon.plugins.list().is_empty());
    // Installed after start: enabling it looks again before answering 404.
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    d.enable(&d.local, "hello-rust").await;
    // And an explicit rescan finds the next one, disabled.
    script(
        &dirs.plugins(),
        "other",
        &format!("echo '{}'", support::fixtures::metadata_json("other")),
    );
    let list: Value = d
        .local
        .send_json(Method::POST, "/api/rescan", &json!({}))
        .await
        .unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["hello-rust", "other"]);
    assert_eq!(
        list[0]["status"]["state"], "running",
        "known plugins keep running"
    );
    assert_eq!(list[1]["status"]["state"], "disabled");
    d.stop().await;
}

/// Warp's routes and the forwarded route, which is served outside warp, run one pipeline: the
/// same request is refused by both with the same status and error, and a local peer is a caller
/// on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warp_routes_and_the_forwarded_route_refuse_and_admit_alike() {
    let (_dirs, d) = started().await;
    let s = d.login().await;
    d.enable(&s, "hello-rust").await;
    let on_warp = "/api/plugins/hello-rust/enable";
    let forwarded = "/api/plugins/hello-rust/route/counter/increment";
    let error = |r: &toructl::client::Response| -> (StatusCode, Value) {
        let body: Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&r.body)));
        (r.status, body["error"].clone())
    };

    // Cross-site: the same 403 with the same message.
    for headers in [
        [("origin", "http://evil.example")],
        [("sec-fetch-site", "cross-site")],
        [("sec-fetch-site", "same-site")],
    ] {
        let a = s
            .request(Method::POST, on_warp, &headers, None)
            .await
            .unwrap();
        let b = s
            .request(Method::POST, forwarded, &headers, None)
            .await
            .unwrap();
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(error(&a), error(&b), "{headers:?}");
    }
    // No session, and a session that does not exist: the same 401.
    let forged = Client::new(
        Endpoint::Tcp(d.daemon.http_addr.to_string()),
        Some("x".repeat(43)),
    );
    for client in [&d.anonymous, &forged] {
        let a = client.raw(Method::POST, on_warp, None).await.unwrap();
        let b = client.raw(Method::POST, forwarded, None).await.unwrap();
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(error(&a), error(&b));
    }
    // A body declared over the route's limit: 413 from both, before a byte of it is read.
    let token = {
        let body = json!({"username": "admin", "password": PASSWORD}).to_string();
        let r = d
            .anonymous
            .raw(Method::POST, "/api/auth/login", Some(body.into_bytes()))
            .await
            .unwrap();
        session_token(&r.headers).unwrap()
    };
    for path in ["/api/plugins/hello-rust/kv/counter", forwarded] {
        let declared = format!(
            "PUT {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: toru_session={token}\r\n\
             content-length: {}\r\n\r\n",
            4 * 1024 * 1024 + 1
        );
        assert_eq!(
            raw_exchange(d.daemon.http_addr, declared, 0).await,
            "HTTP/1.1 413 Payload Too Large",
            "{path}"
        );
    }
    // A local peer (root, by its credentials) is a caller on both, by the same name.
    let me: Value = d.local.get("/api/auth/me").await.unwrap();
    assert_eq!(me["username"], "root");
    let greeting: Value = d
        .local
        .get("/api/plugins/hello-rust/route/greeting")
        .await
        .unwrap();
    assert_eq!(greeting["message"], "Hello, root!");
    d.stop().await;
}

/// Opens `GET path` on the daemon's local socket with `headers`, and reads until the answer
/// holds `until` (or 10 s pass); the connection stays open in the returned stream.
async fn open_stream(
    d: &ApiDaemon,
    path: &str,
    headers: &str,
    until: &str,
) -> (tokio::net::UnixStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::UnixStream::connect(d.socket()).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while !seen.contains(until) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream ended before {until:?}: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or_else(|_| panic!("no {until:?} within 10 s"));
    (stream, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_resumes_after_an_id_then_sends_new_events_as_they_happen() {
    let (_dirs, d) = started().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        d.local.rescan().await.unwrap();
        let newest: Vec<toru_api::Event> = d
            .local
            .get("/api/events?kind=rescanned&limit=1")
            .await
            .unwrap();
        ids.push(newest[0].id);
    }
    // `?after=`: the two after the first, oldest first, then a new one.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let follower = d.local.clone();
    let query = toru_api::FollowEventsQuery {
        kind: Some(toru_api::EventKind::Rescanned),
        after: Some(ids[0]),
        ..Default::default()
    };
    let following = tokio::spawn(async move {
        follower
            .follow_events(&query, |event| tx.send(event.id).is_ok())
            .await
    });
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an event within 10 s")
            .unwrap()
    };
    assert_eq!([next().await, next().await], [ids[1], ids[2]]);
    d.local.rescan().await.unwrap();
    let live = next().await;
    assert!(live > ids[2], "a new event, after the others");
    following.abort();

    // A reconnecting EventSource's `Last-Event-ID`: what came after it, with its id.
    let (_stream, seen) = open_stream(
        &d,
        "/api/events/follow?kind=rescanned",
        &format!("Last-Event-ID: {}\r\n", ids[2]),
        &format!("id:{live}"),
    )
    .await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("text/event-stream"), "{seen}");
    assert!(
        !seen.contains(&format!("id:{}\n", ids[2])),
        "nothing twice: {seen}"
    );
    let bad = d
        .local
        .request(
            Method::GET,
            "/api/events/follow",
            &[("last-event-id", "x")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_are_bounded_and_the_open_ones_keep_streaming() {
    let (_dirs, d) = started().await;
    let max = toru_daemon::api::handlers::events::MAX_EVENT_STREAMS;
    let mut open = Vec::new();
    for _ in 0..max {
        // Each answered 200 (the headers arrived): its slot is taken.
        open.push(
            open_stream(&d, "/api/events/follow", "", "text/event-stream")
                .await
                .0,
        );
    }
    let refused = d
        .local
        .raw(Method::GET, "/api/events/follow", None)
        .await
        .unwrap();
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&refused.body), "busy");
    // The open streams are untouched: the last one gets the next event.
    d.local.rescan().await.unwrap();
    let mut last = open.pop().unwrap();
    let read = async {
        use tokio::io::AsyncReadExt;
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while !seen.contains("rescanned") {
            let n = last.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream ended: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the event within 10 s");
    d.stop().await;
}
