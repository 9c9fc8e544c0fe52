//! Webhooks end to end: a real daemon POSTs to a receiver this test runs (hyper on loopback),
//! which checks what a receiver would — the signature against the shared secret, the headers,
//! the body — and answers as told: at once, with errors a few times, or never.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hmac::{KeyInit as _, Mac as _};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use support::api::{ApiDaemon, test_config};
use support::fixtures::crashing_plugin;
use support::harness::Dirs;
use tokio::sync::mpsc;
use toru_daemon::store::{Event, EventFilter, EventKind, NewEvent};
use toru_daemon::webhooks::{OUTBOX_CAPACITY, RetryPolicy, Webhook, WebhookFile};

const SECRET: &str = "it is a secret to everybody";

/// One request the receiver got.
#[derive(Debug)]
struct Delivery {
    headers: http::HeaderMap,
    body: Bytes,
}

impl Delivery {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Checks `X-Toru-Signature-256` as a receiver does: HMAC-SHA256 of the raw body with the
    /// shared secret, compared in constant time.
    fn assert_signed_with(&self, secret: &str) {
        let header = self.header("x-toru-signature-256");
        let hex = header.strip_prefix("sha256=").expect("sha256= prefix");
        let signature: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&self.body);
        mac.verify_slice(&signature)
            .expect("the signature is the body's HMAC with the secret");
    }
}

/// How the receiver answers: the statuses in turn (the last one for ever after), or never.
#[derive(Clone)]
enum Answers {
    InTurn(Arc<Mutex<Vec<u16>>>),
    Never,
}

impl Answers {
    fn in_turn(statuses: &[u16]) -> Self {
        let mut statuses = statuses.to_vec();
        statuses.reverse();
        Answers::InTurn(Arc::new(Mutex::new(statuses)))
    }

    fn next(&self) -> Option<u16> {
        match self {
            Answers::Never => None,
            Answers::InTurn(left) => {
                let mut left = left.lock().unwrap();
                if left.len() > 1 {
                    left.pop()
                } else {
                    left.last().copied()
                }
            }
        }
    }
}

/// A webhook receiver on loopback: every request it gets goes to the returned channel.
async fn receiver(answers: Answers) -> (SocketAddr, mpsc::UnboundedReceiver<Delivery>) {
    receiver_over(answers, None).await
}

/// [`receiver`], over TLS when given an acceptor.
async fn receiver_over(
    answers: Answers,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Delivery>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (tx, answers, tls) = (tx.clone(), answers.clone(), tls.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (tx, answers) = (tx.clone(), answers.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let _ = tx.send(Delivery {
                            headers: parts.headers,
                            body,
                        });
                        let Some(status) = answers.next() else {
                            std::future::pending::<()>().await;
                            unreachable!();
                        };
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from_static(b"ok")))
                                .unwrap(),
                        )
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                    Some(tls) => {
                        let Ok(stream) = tls.accept(stream).await else {
                            return;
                        };
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// The next delivery, within 20 s.
async fn next(rx: &mut mpsc::UnboundedReceiver<Delivery>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a delivery within 20 s")
        .expect("the receiver runs")
}

/// A webhook to `url` for `events`, its secret in a file under `dirs`.
fn webhook(dirs: &Dirs, url: &str, events: &[&str], timeout_secs: Option<u64>) -> Webhook {
    Webhook::resolve(0, &webhook_file(dirs, url, events, timeout_secs)).unwrap()
}

fn webhook_file(dirs: &Dirs, url: &str, events: &[&str], timeout_secs: Option<u64>) -> WebhookFile {
    let secret_file = dirs.root.path().join("webhook.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    WebhookFile {
        name: Some("test".into()),
        url: url.into(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        secret_file,
        timeout_secs,
        ca_file: None,
    }
}

/// Retries quick enough for a test: 3 attempts, 50 ms then 100 ms apart.
const QUICK: RetryPolicy = RetryPolicy {
    attempts: 3,
    first_delay: Duration::from_millis(50),
    max_delay: Duration::from_millis(100),
};

async fn daemon_with(dirs: &Dirs, hook: Webhook) -> ApiDaemon {
    let mut config = test_config(dirs);
    config.webhooks = vec![hook];
    config.webhook_retry = QUICK;
    ApiDaemon::start_with(config).await
}

/// The first `webhook_failed` event recorded, waiting for it.
async fn webhook_failure(d: &ApiDaemon) -> Event {
    let filter = EventFilter {
        kind: Some(EventKind::WebhookFailed),
        ..EventFilter::default()
    };
    let mut follower = d.daemon.store.follow_events(filter, Some(0)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), follower.next())
        .await
        .expect("webhook_failed within 20 s")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_gives_up_is_posted_signed_with_its_event() {
    let dirs = Dirs::new();
    crashing_plugin(&dirs.plugins(), "crashy", 3);
    let (addr, mut rx) = receiver(Answers::in_turn(&[204])).await;
    let hook = webhook(
        &dirs,
        &format!("http://{addr}/hooks/toru"),
        &["gave_up"],
        None,
    );
    let d = daemon_with(&dirs, hook).await;
    let _: Value = d
        .local
        .send_json(
            http::Method::POST,
            "/api/plugins/crashy/enable",
            &serde_json::json!({}),
        )
        .await
        .unwrap();

    let delivery = next(&mut rx).await;
    delivery.assert_signed_with(SECRET);
    assert_eq!(delivery.header("x-toru-event"), "gave_up");
    assert_eq!(delivery.header("content-type"), "application/json");
    let body = delivery.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["delivery"], delivery.header("x-toru-delivery"));
    assert_eq!(body["instance_id"], d.daemon.plugins.instance_id());
    assert_eq!(
        body["hostname"],
        nix::unistd::gethostname().unwrap().to_str().unwrap()
    );
    assert_eq!(body["event"]["kind"], "gave_up");
    assert_eq!(body["event"]["plugin_id"], "crashy");
    // The event as the API shows it, id and all.
    let events = d
        .daemon
        .store
        .events(&EventFilter::plugin("crashy"), 100)
        .await
        .unwrap();
    let gave_up = events.iter().find(|e| e.kind == EventKind::GaveUp).unwrap();
    assert_eq!(body["event"], serde_json::to_value(gave_up).unwrap());
    // Only the kinds asked for: the crashes and restarts before it were not sent.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "nothing but gave_up"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_with_the_same_delivery_until_it_takes_it() {
    let dirs = Dirs::new();
    let (addr, mut rx) = receiver(Answers::in_turn(&[500, 503, 200])).await;
    let hook = webhook(&dirs, &format!("http://{addr}/"), &["rescanned"], None);
    let d = daemon_with(&dirs, hook).await;
    d.local.rescan().await.unwrap();

    let attempts = [
        next(&mut rx).await,
        next(&mut rx).await,
        next(&mut rx).await,
    ];
    for attempt in &attempts {
        attempt.assert_signed_with(SECRET);
        assert_eq!(
            attempt.body, attempts[0].body,
            "every attempt sends the same body"
        );
        assert_eq!(
            attempt.header("x-toru-delivery"),
            attempts[0].header("x-toru-delivery")
        );
    }
    assert_eq!(attempts[0].json()["event"]["kind"], "rescanned");
    assert!(
        attempts[0].json()["event"]["actor"]["via"] == "local_socket",
        "who rescanned"
    );
    // Delivered on the third attempt: no failure is recorded.
    d.local.rescan().await.unwrap();
    let second = next(&mut rx).await;
    assert_ne!(
        second.header("x-toru-delivery"),
        attempts[0].header("x-toru-delivery")
    );
    let failures = d
        .daemon
        .store
        .events(
            &EventFilter {
                kind: Some(EventKind::WebhookFailed),
                ..EventFilter::default()
            },
            10,
        )
        .await
        .unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_last_attempt_the_failure_is_an_event_that_no_webhook_is_sent() {
    let dirs = Dirs::new();
    let (addr, mut rx) = receiver(Answers::in_turn(&[500])).await;
    let hook = webhook(&dirs, &format!("http://{addr}/"), &["*"], None);
    let d = daemon_with(&dirs, hook).await;
    d.local.rescan().await.unwrap();

    let failure = webhook_failure(&d).await;
    assert!(
        failure.details.contains("webhook test")
            && failure.details.contains("rescanned")
            && failure.details.contains("failed 3 times")
            && failure.details.contains("HTTP 500"),
        "{}",
        failure.details
    );
    // Three attempts of the rescan, and nothing about the failure itself.
    for _ in 0..3 {
        assert_eq!(next(&mut rx).await.header("x-toru-event"), "rescanned");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err(),
        "webhook_failed is never sent to a webhook"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_not_retried() {
    let dirs = Dirs::new();
    let (addr, mut rx) = receiver(Answers::in_turn(&[404])).await;
    let hook = webhook(&dirs, &format!("http://{addr}/gone"), &["rescanned"], None);
    let d = daemon_with(&dirs, hook).await;
    d.local.rescan().await.unwrap();
    let failure = webhook_failure(&d).await;
    assert!(
        failure.details.contains("refused (HTTP 404"),
        "{}",
        failure.details
    );
    next(&mut rx).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "one attempt only"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_does_not_hold_up_the_api() {
    let dirs = Dirs::new();
    let (addr, mut rx) = receiver(Answers::Never).await;
    // Each attempt may wait 60 s: longer than the whole test is given below.
    let hook = webhook(&dirs, &format!("http://{addr}/"), &["*"], Some(60));
    let d = daemon_with(&dirs, hook).await;
    d.local.rescan().await.unwrap();
    // The delivery is hanging at the receiver now.
    next(&mut rx).await;
    // Meanwhile every change (each recording an event for the stuck webhook) and every read
    // answers: well within the first attempt's 60 s.
    let api = async {
        for _ in 0..20 {
            d.local.rescan().await.unwrap();
            d.local.status().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), api)
        .await
        .expect("the API answers while a delivery hangs");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_for_a_stuck_receiver_drops_the_oldest_and_says_how_many() {
    let dirs = Dirs::new();
    let (addr, mut rx) = receiver(Answers::Never).await;
    let mut config = test_config(&dirs);
    config.webhooks = vec![webhook(&dirs, &format!("http://{addr}/"), &["*"], Some(5))];
    config.webhook_retry = RetryPolicy {
        attempts: 1,
        ..QUICK
    };
    let d = ApiDaemon::start_with(config).await;
    // One event in delivery (the receiver holds it for the attempt's 5 s), then more than
    // the outbox holds, recorded meanwhile (in well under those 5 s).
    let flood = OUTBOX_CAPACITY + 100;
    d.local.rescan().await.unwrap();
    next(&mut rx).await;
    for _ in 0..flood {
        d.daemon
            .store
            .record_event(NewEvent::daemon(EventKind::KvSet, "flood"))
            .await
            .unwrap();
    }
    let filter = EventFilter {
        kind: Some(EventKind::WebhookFailed),
        ..EventFilter::default()
    };
    let mut failures = d.daemon.store.follow_events(filter, Some(0)).await.unwrap();
    let dropped = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let failure = failures.next().await.unwrap();
            if failure.details.contains("dropped") {
                return failure;
            }
        }
    })
    .await
    .expect("a webhook_failed about dropped events within 20 s");
    assert!(
        dropped.details.contains("100 events dropped")
            && dropped
                .details
                .contains(&format!("queue of {OUTBOX_CAPACITY}")),
        "{}",
        dropped.details
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_receivers_are_reached_trusting_the_webhooks_ca_file() {
    let dirs = Dirs::new();
    // The receiver's certificate: self-signed for localhost, made as the TLS listener makes
    // its own; the webhook trusts exactly it (`ca_file`), not the system's CAs.
    let tls_dir = dirs.root.path().join("receiver-tls");
    let acceptor = toru_daemon::tls::ServerCertificate::load_or_generate(&tls_dir, None)
        .unwrap()
        .acceptor(&tls_dir)
        .unwrap();
    let (addr, mut rx) = receiver_over(Answers::in_turn(&[200]), Some(acceptor)).await;
    let url = format!("https://localhost:{}/hook", addr.port());
    let trusting = WebhookFile {
        ca_file: Some(tls_dir.join(toru_daemon::tls::CERT_FILE)),
        ..webhook_file(&dirs, &url, &["rescanned"], None)
    };
    let d = daemon_with(&dirs, Webhook::resolve(0, &trusting).unwrap()).await;
    d.local.rescan().await.unwrap();
    let delivery = next(&mut rx).await;
    delivery.assert_signed_with(SECRET);
    assert_eq!(delivery.json()["event"]["kind"], "rescanned");
    d.stop().await;

    // Trusting another CA, the same receiver is not delivered to: the failure says why.
    let other_dir = dirs.root.path().join("other-tls");
    toru_daemon::tls::ServerCertificate::load_or_generate(&other_dir, None).unwrap();
    let distrusting = WebhookFile {
        ca_file: Some(other_dir.join(toru_daemon::tls::CERT_FILE)),
        ..webhook_file(&dirs, &url, &["rescanned"], None)
    };
    let dirs2 = Dirs::new();
    let d = daemon_with(&dirs2, Webhook::resolve(0, &distrusting).unwrap()).await;
    d.local.rescan().await.unwrap();
    let failure = webhook_failure(&d).await;
    assert!(
        failure.details.contains("certificate"),
        "{}",
        failure.details
    );
    d.stop().await;
}

#[tokio::test]
async fn a_bad_webhook_table_stops_the_daemon_with_the_reason() {
    let dirs = Dirs::new();
    let file = dirs.root.path().join("toru.toml");
    std::fs::write(
        &file,
        "[[webhooks]]\nurl = \"http://127.0.0.1:9/\"\nevents = [\"crashd\"]\nsecret_file = \"/nonexistent\"\n",
    )
    .unwrap();
    let args = <toru_daemon::config::Args as clap::Parser>::try_parse_from([
        "toru-daemon",
        "-c",
        file.to_str().unwrap(),
    ])
    .unwrap();
    let err = toru_daemon::config::Config::load(&args)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("toru.toml") && err.contains("webhook number 1") && err.contains("crashd"),
        "{err}"
    );
}
