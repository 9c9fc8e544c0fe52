//! Unauthenticated clients trying to exhaust or wedge the daemon (issue 16, items 1–5): huge
//! or endless logins, parallel password checks, sockets that send nothing, bad bodies,
//! lock-outs, foreign origins and hosts. Every client here writes raw HTTP over TCP.

mod support;

use std::time::{Duration, Instant};

use http::Method;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use serde_json::{Value, json};
use support::api::{ApiDaemon, PASSWORD, session_token, test_config};
use support::fixtures::{hello_rust, install};
use support::harness::Dirs;
use support::raw::{
    closed_within, connect_from, exchange, exchange_from, json_post, loopback, read_response,
    request,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use toru_daemon::config::Config;

/// Idle connections and request bodies get this long here (10 s by default).
const SHORT: Duration = Duration::from_secs(1);

async fn started() -> (Dirs, ApiDaemon) {
    let dirs = Dirs::new();
    let d = ApiDaemon::start_with(Config {
        http_idle_timeout: Some(SHORT),
        http_body_timeout: Some(SHORT),
        ..test_config(&dirs)
    })
    .await;
    let admin = json!({"username": "admin", "password": PASSWORD}).to_string();
    let r = local_until_not_busy(&d, "/api/users", &admin).await;
    assert_eq!(r.status, http::StatusCode::CREATED, "{r:?}");
    (dirs, d)
}

/// `POST`s `body` over the local socket again while the daemon answers 503 `busy`.
async fn local_until_not_busy(d: &ApiDaemon, path: &str, body: &str) -> toructl::client::Response {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = d
            .local
            .raw(Method::POST, path, Some(body.as_bytes().to_vec()))
            .await
            .unwrap();
        if r.status != http::StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn login_body(username: &str, password: &str) -> String {
    json!({"username": username, "password": password}).to_string()
}

/// Sends `request` from `source` again while the daemon answers 503 `busy` (password checks
/// are bounded, and the parallel-logins test here saturates them), as a client honouring
/// `Retry-After` would.
async fn until_not_busy(
    addr: std::net::SocketAddr,
    source: Option<std::net::Ipv4Addr>,
    request: &[u8],
) -> support::raw::RawResponse {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = exchange_from(addr, source, request).await;
        if r.status != 503 || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A session token for `admin`, logged in over TCP.
async fn admin_token(d: &ApiDaemon) -> String {
    let addr = d.daemon.http_addr;
    let r = until_not_busy(
        addr,
        None,
        &json_post(addr, "/api/auth/login", &[], &login_body("admin", PASSWORD)),
    )
    .await;
    let headers: http::HeaderMap = r
        .headers
        .iter()
        .map(|(n, v)| {
            (
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect();
    session_token(&headers).unwrap_or_else(|| panic!("a session: {r:?}"))
}

/// The largest resident set this process has had so far, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb * 1024
}

// Item 1: a user name longer than any user can have is refused before the limiter or the
// hasher sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_login_name_is_refused_before_any_work() {
    let (_dirs, d) = started().await;
    let addr = d.daemon.http_addr;
    let huge = "x".repeat(60 * 1024 - 100);
    for i in 0..30 {
        let name = format!("{i}{huge}");
        let r = exchange_from(
            addr,
            Some(loopback(i)),
            &json_post(addr, "/api/auth/login", &[], &login_body(&name, "guess")),
        )
        .await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.error_code(), "invalid_username");
    }
    // 65 characters is one too many; 64 reaches the password check.
    let r = exchange(
        addr,
        &json_post(
            addr,
            "/api/auth/login",
            &[],
            &login_body(&"a".repeat(65), "x"),
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "invalid_username")
    );
    let r = until_not_busy(
        addr,
        None,
        &json_post(
            addr,
            "/api/auth/login",
            &[],
            &login_body(&"a".repeat(64), "x"),
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "invalid_credentials")
    );
    d.stop().await;
}

// Item 2: many logins at once, each from its own address and for its own (unknown) user so no
// rate limit applies, hash a bounded number of passwords at a time; the rest wait briefly or
// are told to come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_logins_from_many_addresses_use_bounded_memory() {
    let (_dirs, d) = started().await;
    let addr = d.daemon.http_addr;
    let before = peak_rss();
    let logins: Vec<_> = (0..64)
        .map(|i| {
            tokio::spawn(async move {
                exchange_from(
                    addr,
                    Some(loopback(100 + i)),
                    &json_post(
                        addr,
                        "/api/auth/login",
                        &[],
                        &login_body(&format!("user{i}"), "wrong"),
                    ),
                )
                .await
            })
        })
        .collect();
    let (mut refused, mut busy) = (0, 0);
    for login in logins {
        let r = login.await.unwrap();
        match r.status {
            401 => refused += 1,
            503 => {
                assert_eq!(r.error_code(), "busy");
                assert!(r.header("retry-after").is_some(), "{r:?}");
                busy += 1;
            }
            other => panic!("{other}: {}", String::from_utf8_lossy(&r.body)),
        }
    }
    let grown = peak_rss().saturating_sub(before);
    println!("64 parallel logins: {refused} checked, {busy} busy; peak RSS grew {grown} bytes");
    assert!(refused >= 1, "some passwords were checked");
    // Each argon2 check holds 19 MiB: 64 at once would be 1.2 GiB.
    assert!(grown < 400 << 20, "peak RSS grew by {} MiB", grown >> 20);
    d.stop().await;
}

// Item 3: a connection that sends nothing, an HTTP/2 preface, or headers that never finish is
// closed by the idle timeout, counted from accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_stalled_connections_are_closed() {
    let (_dirs, d) = started().await;
    let addr = d.daemon.http_addr;
    let within = SHORT + Duration::from_secs(3);
    let mut silent = connect_from(addr, None).await;
    let mut preface = connect_from(addr, None).await;
    preface
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut partial = connect_from(addr, None).await;
    partial
        .write_all(b"GET /api/health HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    closed_within(&mut silent, within).await;
    closed_within(&mut preface, within).await;
    closed_within(&mut partial, within).await;
    println!("idle connections closed after {:?}", started.elapsed());
    d.stop().await;
}

// Item 3: the idle time starts again when a response ends, and a quiet log stream is a request
// in progress, never idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_goes_idle_after_a_response_but_a_log_stream_does_not() {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    let d = ApiDaemon::start_with(Config {
        http_idle_timeout: Some(SHORT),
        http_body_timeout: Some(SHORT),
        ..test_config(&dirs)
    })
    .await;
    let addr = d.daemon.http_addr;
    let token = {
        let admin = json!({"username": "admin", "password": PASSWORD}).to_string();
        let r = local_until_not_busy(&d, "/api/users", &admin).await;
        assert_eq!(r.status, http::StatusCode::CREATED);
        admin_token(&d).await
    };
    let mut keep_alive = connect_from(addr, None).await;
    keep_alive
        .write_all(format!("GET /api/health HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let answered = Instant::now();
    let seen = closed_within(&mut keep_alive, SHORT + Duration::from_secs(3)).await;
    assert!(
        seen.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    assert!(answered.elapsed() >= SHORT, "closed only once idle");
    let mut follow = connect_from(addr, None).await;
    follow
        .write_all(
            format!(
                "GET /api/plugins/hello-rust/logs/follow HTTP/1.1\r\nhost: {addr}\r\ncookie: toru_session={token}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), follow.read_exact(&mut head))
        .await
        .expect("the stream's headers")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let mut rest = [0u8; 1024];
    let quiet = tokio::time::timeout(SHORT * 3, async {
        loop {
            match follow.read(&mut rest).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "the log stream was cut while quiet");
    // Closed first, or shutdown would wait its grace time for the stream.
    drop(follow);
    d.stop().await;
}

// Item 3: a body trickled a byte at a time is cut off with 408 once the body time is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_408() {
    let (_dirs, d) = started().await;
    let addr = d.daemon.http_addr;
    let mut stream = connect_from(addr, None).await;
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if stream.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(SHORT + Duration::from_secs(3), trickle).await;
    let r = read_response(&mut stream).await;
    assert_eq!(r.status, 408, "{r:?}");
    assert_eq!(r.error_code(), "request_timeout");
    d.stop().await;
}

// Item 3: with every connection slot held by an idle socket, a new client is still served:
// idle connections make room, oldest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_idle_sockets_hold_every_slot() {
    let (_dirs, d) = started().await;
    let addr = d.daemon.http_addr;
    // Both ends of every socket are in this process.
    let needed = 2 * (toru_daemon::api::server::MAX_CONNECTIONS + 16) + 256;
    // The soft limit is often 1024; the hard one is what this process may have.
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    let open_files =
        usize::try_from(getrlimit(Resource::RLIMIT_NOFILE).unwrap().0).unwrap_or(usize::MAX);
    assert!(
        open_files >= needed,
        "this test needs {needed} open files; raise `ulimit -n` (now {open_files})"
    );
    let mut idle = Vec::new();
    for _ in 0..toru_daemon::api::server::MAX_CONNECTIONS + 16 {
        idle.push(connect_from(addr, None).await);
    }
    // Let the daemon accept what it can.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(3),
        exchange(addr, &request("GET", "/api/health", "127.0.0.1", &[], b"")),
    )
    .await
    .expect("/api/health answered within 3 s while idle sockets held the slots");
    assert_eq!(r.status, 200);
    println!(
        "health answered in {:?} with {} idle sockets",
        asked.elapsed(),
        idle.len()
    );
    drop(idle);
    d.stop().await;
}

/// One bad-body case: method, path, content type header, body, expected status and code.
type BadBody<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, u16, &'a str);

// Item 4: every kind of bad body on the API's own routes gets its own status and code, never
// 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_400_413_415_not_405() {
    let (_dirs, d) = started().await;
    let addr = d.daemon.http_addr;
    let host = addr.to_string();
    let token = admin_token(&d).await;
    let cookie = format!("cookie: toru_session={token}");
    let json = "content-type: application/json";
    let big = format!(r#"{{"password": "{}"}}"#, "x".repeat(70 * 1024));
    // (method, path, content type, body, status, code)
    let cases: &[BadBody] = &[
        (
            "POST",
            "/api/auth/login",
            Some(json),
            "{",
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/auth/login",
            Some(json),
            r#"{"username": 5, "password": "x"}"#,
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/auth/login",
            Some(json),
            r#"{"username": "a", "username": "b", "password": "x"}"#,
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/auth/login",
            Some("content-type: text/plain"),
            r#"{"username": "a", "password": "x"}"#,
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/auth/login",
            None,
            r#"{"username": "a", "password": "x"}"#,
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/auth/login",
            Some(json),
            &big,
            413,
            "payload_too_large",
        ),
        (
            "POST",
            "/api/users",
            Some(json),
            r#"{"username": "bob"}"#,
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/users",
            Some("content-type: application/x-www-form-urlencoded"),
            "username=bob",
            415,
            "unsupported_media_type",
        ),
        (
            "PUT",
            "/api/users/admin/password",
            Some(json),
            "[1, 2",
            400,
            "invalid_json",
        ),
        (
            "PUT",
            "/api/users/admin/password",
            Some(json),
            &big,
            413,
            "payload_too_large",
        ),
        (
            "PUT",
            "/api/plugins/none/license",
            Some(json),
            r#"{"key": 7}"#,
            400,
            "invalid_json",
        ),
    ];
    for (method, path, content_type, body, status, code) in cases {
        let mut headers = vec![cookie.as_str()];
        headers.extend(content_type.iter());
        let r = exchange(
            addr,
            &request(method, path, &host, &headers, body.as_bytes()),
        )
        .await;
        let what = format!(
            "{method} {path} {content_type:?} {}…",
            &body[..body.len().min(40)]
        );
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (*status, *code),
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        if *code == "invalid_json" {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            let message = v["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("line"),
                "{what}: the message names the problem: {message}"
            );
        }
    }
    d.stop().await;
}

// Item 5: an attacker guessing one user's password from one address cannot lock that user
// out: the user, from another address, still logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_from_one_address_does_not_lock_the_user_out() {
    let (_dirs, d) = started().await;
    let addr = d.daemon.http_addr;
    let attacker = loopback(7);
    let mut limited = 0;
    for _ in 0..15 {
        let r = exchange_from(
            addr,
            Some(attacker),
            &json_post(addr, "/api/auth/login", &[], &login_body("admin", "guess")),
        )
        .await;
        if r.status == 429 {
            assert!(r.header("retry-after").is_some());
            limited += 1;
        }
    }
    assert!(
        limited >= 5,
        "the attacker was slowed down ({limited} of 15 refused)"
    );
    // Case does not get the attacker around the limit.
    let r = exchange_from(
        addr,
        Some(attacker),
        &json_post(addr, "/api/auth/login", &[], &login_body("ADMIN", "guess")),
    )
    .await;
    assert_eq!(r.status, 429);
    let r = until_not_busy(
        addr,
        Some(loopback(8)),
        &json_post(addr, "/api/auth/login", &[], &login_body("admin", PASSWORD)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    d.stop().await;
}

// Item 5: the Origin must match scheme, host and port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_with_another_scheme_is_cross_site() {
    let (_dirs, d) = started().await;
    let addr = d.daemon.http_addr;
    let host = addr.to_string();
    let logout = |origin: String, extra: Option<&'static str>| {
        let origin = format!("origin: {origin}");
        let mut headers = vec![origin];
        headers.extend(extra.map(str::to_owned));
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        request("POST", "/api/auth/logout", &host, &headers, b"")
    };
    for bad in [
        format!("https://{host}"),
        format!("ftp://{host}"),
        format!("http://{host}.evil"),
    ] {
        let r = exchange(addr, &logout(bad.clone(), None)).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (403, "forbidden"),
            "{bad}"
        );
    }
    let r = exchange(addr, &logout(format!("http://{host}"), None)).await;
    assert_eq!(r.status, 204);
    // Behind a TLS proxy the browser's origin is https.
    let r = exchange(
        addr,
        &logout(format!("https://{host}"), Some("x-forwarded-proto: https")),
    )
    .await;
    assert_eq!(r.status, 204);
    let r = exchange(
        addr,
        &logout(format!("http://{host}"), Some("x-forwarded-proto: https")),
    )
    .await;
    assert_eq!(r.status, 403);
    d.stop().await;
}

// Item 5: DNS rebinding: a request naming a host this daemon does not serve is refused on TCP,
// on warp's routes and the forwarded path alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_headers_are_refused() {
    let (_dirs, d) = started().await;
    let addr = d.daemon.http_addr;
    let token = admin_token(&d).await;
    let cookie = format!("cookie: toru_session={token}");
    for path in ["/api/health", "/api/status", "/api/plugins/x/route/y", "/"] {
        let r = exchange(
            addr,
            &request("GET", path, "rebind.evil.example:7070", &[&cookie], b""),
        )
        .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (421, "unknown_host"),
            "{path}"
        );
    }
    // The names of this machine pass, with any port (an `ssh -L` tunnel changes the port).
    for host in [
        "localhost:8080",
        "127.0.0.1",
        "LOCALHOST",
        "[::1]:7070",
        &addr.to_string(),
    ] {
        let r = exchange(addr, &request("GET", "/api/health", host, &[], b"")).await;
        assert_eq!(r.status, 200, "{host}");
    }
    // The local socket has no Host check.
    let r = d.local.raw(Method::GET, "/api/health", None).await.unwrap();
    assert_eq!(r.status, 200);
    d.stop().await;
}

// Item 5: user names differing only in case cannot both exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_names_are_unique_ignoring_case() {
    let (_dirs, d) = started().await;
    let create = |name: &str| json!({"username": name, "password": PASSWORD}).to_string();
    let r = local_until_not_busy(&d, "/api/users", &create("Erin")).await;
    assert_eq!(r.status, 201);
    for name in ["erin", "ERIN", "Admin"] {
        let r = local_until_not_busy(&d, "/api/users", &create(name)).await;
        assert_eq!(r.status, 409, "{name}");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["code"], "user_exists", "{name}");
    }
    d.stop().await;
}
