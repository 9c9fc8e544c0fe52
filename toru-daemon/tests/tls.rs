//! The built-in TLS listener, end to end: a real daemon from `Daemon::start` and `toructl`'s
//! rustls client that trusts exactly the certificate whose SHA-256 the daemon reports in
//! `GET /api/status`, as an administrator checks a browser's first warning against
//! `toructl status`.

mod support;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use toru_api::CertFingerprint;

use support::api::{ApiDaemon, PASSWORD, test_config};
use support::ctl::{ctl, ok};
use support::harness::Dirs;
use tokio_util::sync::CancellationToken;
use toru_daemon::Daemon;
use toru_daemon::api::activation::Inherited;
use toru_daemon::config::Config;
use toructl::{Client, Endpoint, Trust};

/// A test daemon's configuration with the TLS listener on a free loopback port.
fn tls_config(dirs: &Dirs) -> Config {
    let mut config = test_config(dirs);
    config.tls_listen = Some("127.0.0.1:0".parse().unwrap());
    config
}

/// The fingerprint `GET /api/status` reports, as text and as `toructl` pins it.
async fn reported_fingerprint(d: &ApiDaemon) -> (String, CertFingerprint) {
    let status = d.local.status().await.unwrap();
    let tls = status.tls.expect("status reports the TLS listener");
    assert_eq!(tls.listen, d.daemon.tls_addr.unwrap().to_string());
    let text = &tls.sha256_fingerprint;
    assert!(
        text.len() == 95 && *text == text.to_uppercase(),
        "colon-separated upper-case hex: {text}"
    );
    let pin = text.parse().expect("toructl reads what the daemon shows");
    (tls.sha256_fingerprint, pin)
}

/// An HTTP/1.1 connection over TLS to `addr` that trusts only the certificate `pin`, made by
/// `toructl`'s TLS client as a context pinning the daemon's self-signed certificate makes it.
async fn connect(
    addr: SocketAddr,
    pin: CertFingerprint,
) -> std::io::Result<SendRequest<Full<Bytes>>> {
    let tls = toructl::tls::connect(&addr.to_string(), Trust::Pinned(pin)).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    Ok(sender)
}

/// One answer: status, headers, body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

/// Sends one request on `sender` with `Host: host`, `headers` and a JSON `body`.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    method: Method,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> Answer {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    // The connection takes the next request once it has finished with the last response.
    sender
        .ready()
        .await
        .expect("the connection stays open for the next request");
    let response = sender
        .send_request(request.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_client_logs_in_over_tls_and_gets_a_secure_cookie_and_hsts() {
    let dirs = Dirs::new();
    let d = ApiDaemon::start_with(tls_config(&dirs)).await;
    d.create_admin().await;
    let (fingerprint, pin) = reported_fingerprint(&d).await;
    let status = ctl(&d, &["status"]).await;
    ok(&status, "status");
    assert!(
        status
            .stdout
            .contains(&format!("sha256      {fingerprint}")),
        "toructl status prints the fingerprint: {}",
        status.stdout
    );

    let addr = d.daemon.tls_addr.unwrap();
    let host = format!("localhost:{}", addr.port());
    let origin = format!("https://{host}");
    let mut tls = connect(addr, pin)
        .await
        .expect("the pinned certificate is served");
    let health = send(&mut tls, Method::GET, "/api/health", &host, &[], None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(
        health.header("strict-transport-security"),
        "max-age=31536000"
    );

    let login = send(
        &mut tls,
        Method::POST,
        "/api/auth/login",
        &host,
        &[("origin", &origin), ("sec-fetch-site", "same-origin")],
        Some(json!({"username": "admin", "password": PASSWORD})),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    let cookie = login.header("set-cookie").to_owned();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    assert_eq!(
        login.header("strict-transport-security"),
        "max-age=31536000"
    );
    let session = cookie.split(';').next().unwrap().to_owned();

    let me = send(
        &mut tls,
        Method::GET,
        "/api/auth/me",
        &host,
        &[("cookie", &session)],
        None,
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.header("strict-transport-security"), "max-age=31536000");

    // Same rules as the plain listener: an http:// origin is another origin here, and a name
    // this daemon does not answer to is refused.
    let logout = send(
        &mut tls,
        Method::POST,
        "/api/auth/logout",
        &host,
        &[("origin", &format!("http://{host}")), ("cookie", &session)],
        None,
    )
    .await;
    assert_eq!(logout.status, StatusCode::FORBIDDEN);
    let rebound = send(
        &mut tls,
        Method::GET,
        "/api/health",
        "evil.example",
        &[],
        None,
    )
    .await;
    assert_eq!(rebound.status, StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(
        rebound.header("strict-transport-security"),
        "max-age=31536000"
    );

    // The plain loopback listener is unchanged: no HSTS, no Secure.
    let plain = d
        .anonymous
        .call(
            Method::POST,
            "/api/auth/login",
            Some(&json!({"username": "admin", "password": PASSWORD})),
        )
        .await
        .unwrap();
    assert!(plain.headers.get("strict-transport-security").is_none());
    let plain_cookie = plain.headers["set-cookie"].to_str().unwrap();
    assert!(!plain_cookie.contains("Secure"), "{plain_cookie}");
    d.stop().await;
}

/// What Prometheus does with `scheme: https` and `authorization: { credentials_file: … }`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scraper_reads_metrics_over_tls_with_its_bearer_token() {
    let dirs = Dirs::new();
    let token = "9c4e2b7a1d6f3e8c0b5a7d2e4f6a8c1e";
    let token_file = dirs.root.path().join("metrics.token");
    std::fs::write(&token_file, token).unwrap();
    let mut config = tls_config(&dirs);
    config.metrics_token_file = Some(token_file);
    let d = ApiDaemon::start_with(config).await;
    let (_, pin) = reported_fingerprint(&d).await;
    let addr = d.daemon.tls_addr.unwrap();
    let host = format!("localhost:{}", addr.port());
    let mut tls = connect(addr, pin).await.unwrap();
    let bearer = format!("Bearer {token}");
    let scrape = send(
        &mut tls,
        Method::GET,
        "/metrics",
        &host,
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(scrape.status, StatusCode::OK);
    assert_eq!(
        scrape.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = String::from_utf8(scrape.body.to_vec()).unwrap();
    // This scrape's own connection is the TLS listener's.
    assert!(
        text.lines().any(
            |l| l.starts_with("toru_http_connections{listener=\"https\"} ") && !l.ends_with(" 0")
        ),
        "{text}"
    );
    let refused = send(
        &mut tls,
        Method::GET,
        "/metrics",
        &host,
        &[("authorization", "Bearer 9c4e2b7a1d6f3e8c0b5a7d2e4f6a8c1f")],
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_pinning_another_certificate_is_refused_and_a_silent_one_is_closed() {
    let dirs = Dirs::new();
    let mut config = tls_config(&dirs);
    config.http_idle_timeout = Some(Duration::from_millis(200));
    let d = ApiDaemon::start_with(config).await;
    let addr = d.daemon.tls_addr.unwrap();
    let (served, _) = reported_fingerprint(&d).await;
    let err = connect(addr, CertFingerprint::of(b"another certificate"))
        .await
        .expect_err("another certificate is not trusted");
    let problem = toructl::tls::certificate_problem(&err).expect("a certificate error");
    assert!(
        problem.contains(&format!("is {served}, not the pinned")),
        "{problem}"
    );

    // A client that never starts its handshake holds its slot only until the idle timeout.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut buf))
        .await
        .expect("the daemon closes a connection that never starts its handshake");
    assert_eq!(read.unwrap_or(0), 0);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_dropped_into_the_tls_dir_is_served_instead_of_a_generated_one() {
    let dirs = Dirs::new();
    let config = tls_config(&dirs);
    let made = rcgen::generate_simple_self_signed(vec!["toru.example".to_owned()]).unwrap();
    std::fs::create_dir_all(&config.tls_dir).unwrap();
    std::fs::write(config.tls_dir.join("toru.crt"), made.cert.pem()).unwrap();
    std::fs::write(
        config.tls_dir.join("toru.key"),
        made.signing_key.serialize_pem(),
    )
    .unwrap();
    let expected = CertFingerprint::of(made.cert.der());

    let d = ApiDaemon::start_with(config).await;
    let (_, reported) = reported_fingerprint(&d).await;
    assert_eq!(
        reported, expected,
        "the dropped-in certificate is the one reported"
    );
    let mut tls = connect(d.daemon.tls_addr.unwrap(), expected).await.unwrap();
    let host = format!("localhost:{}", d.daemon.tls_addr.unwrap().port());
    let health = send(&mut tls, Method::GET, "/api/health", &host, &[], None).await;
    assert_eq!(health.status, StatusCode::OK);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_self_signed_certificate_is_kept_and_reused_across_restarts() {
    let dirs = Dirs::new();
    let config = tls_config(&dirs);
    let d = ApiDaemon::start_with(config.clone()).await;
    let (first, _) = reported_fingerprint(&d).await;
    d.stop().await;
    let mode = |name: &str| {
        let path = config.tls_dir.join(name);
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode("toru.key"), 0o600, "the generated key is private");
    assert_eq!(mode("toru.crt"), 0o644);

    let d = ApiDaemon::start_with(config).await;
    let (second, pin) = reported_fingerprint(&d).await;
    assert_eq!(
        first, second,
        "the second start serves the first start's certificate"
    );
    connect(d.daemon.tls_addr.unwrap(), pin).await.unwrap();
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_on_an_address_that_is_not_loopback_is_refused_at_start() {
    let dirs = Dirs::new();
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let mut config = test_config(&dirs);
        config.listen = listen.parse().unwrap();
        let shutdown = CancellationToken::new();
        let err = Daemon::start(&config, shutdown)
            .await
            .err()
            .expect("a plain listener on every address is refused");
        let message = format!("{err:#}");
        assert!(message.contains("tls_listen"), "{listen}: {message}");
        assert!(message.contains(listen), "{listen}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_socket_activation_the_passed_socket_at_tls_listen_is_the_tls_one() {
    let dirs = Dirs::new();
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tls = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (plain_addr, tls_addr) = (plain.local_addr().unwrap(), tls.local_addr().unwrap());
    let mut config = test_config(&dirs);
    config.tls_listen = Some(tls_addr);
    // An address the daemon could not bind: it must serve the passed sockets instead.
    config.listen = "127.0.0.1:9".parse().unwrap();
    let inherited = Inherited {
        tcp: vec![tls, plain],
        unix: None,
    };
    let shutdown = CancellationToken::new();
    let daemon = Daemon::start_with_listeners(&config, inherited, shutdown.clone())
        .await
        .unwrap();
    assert_eq!(
        (daemon.http_addr, daemon.tls_addr),
        (plain_addr, Some(tls_addr))
    );

    let local = Client::new(Endpoint::Unix(daemon.socket_path.clone()), None);
    let reported = local.status().await.unwrap().tls.unwrap();
    assert_eq!(reported.listen, tls_addr.to_string());
    let pin: CertFingerprint = reported.sha256_fingerprint.parse().unwrap();
    let mut client = connect(tls_addr, pin).await.unwrap();
    let host = format!("localhost:{}", tls_addr.port());
    let health = send(&mut client, Method::GET, "/api/health", &host, &[], None).await;
    assert_eq!(health.status, StatusCode::OK);
    let plain_health = Client::new(Endpoint::Tcp(plain_addr.to_string()), None)
        .call(Method::GET, "/api/health", None)
        .await
        .unwrap();
    assert_eq!(plain_health.status, StatusCode::OK);
    assert!(
        plain_health
            .headers
            .get("strict-transport-security")
            .is_none()
    );
    shutdown.cancel();
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_plain_socket_that_is_not_loopback_is_refused_at_start() {
    let dirs = Dirs::new();
    let open = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let addr = open.local_addr().unwrap();
    let inherited = Inherited {
        tcp: vec![open],
        unix: None,
    };
    let err =
        Daemon::start_with_listeners(&test_config(&dirs), inherited, CancellationToken::new())
            .await
            .err()
            .expect("a plain socket on every address is refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("tls_listen") && message.contains(&addr.to_string()),
        "{message}"
    );
}
