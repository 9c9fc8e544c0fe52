//! The built `hello-rust` executable, run for real on a Unix socket with the test as its daemon.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use toru_plugin_api::testing::{TestDaemon, get};
use toru_plugin_api::{Body, HttpRequest, PluginMetadata, ToruPlugin};

const BIN: &str = env!("CARGO_BIN_EXE_hello-rust");

#[test]
fn metadata_flag_prints_the_traits_metadata_as_valid_json() {
    let out = Command::new(BIN).arg("--metadata").output().unwrap();
    assert!(out.status.success(), "exit status {}", out.status);
    let printed: PluginMetadata = serde_json::from_slice(&out.stdout).unwrap();
    printed.validate().unwrap();
    assert_eq!(printed, hello_plugin_rust::Hello::default().metadata());
}

#[test]
fn no_socket_is_a_usage_error() {
    let out = Command::new(BIN)
        .env_remove("TORU_PLUGIN_SOCKET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TORU_PLUGIN_SOCKET"));
}

/// Kills the child if a test fails half-way.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(socket: &Path) -> Running {
    Running(
        Command::new(BIN)
            .env("TORU_PLUGIN_SOCKET", socket)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn json_body(reply: &toru_plugin_api::Message) -> serde_json::Value {
    match &reply.body {
        Body::HttpResponse(r) => {
            assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
            serde_json::from_slice(&r.body).unwrap()
        }
        other => panic!("expected http.response, got {other:?}"),
    }
}

#[tokio::test]
async fn greets_counts_in_kv_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("hello.sock");
    let mut plugin = spawn(&socket);
    let mut d = TestDaemon::connect(&socket, Duration::from_secs(10))
        .await
        .unwrap();
    d.init("hello-rust", "00000000-0000-4000-8000-000000000000")
        .await
        .unwrap();

    let greeting = d
        .call(HttpRequest {
            user: Some("ada".into()),
            ..get("/greeting")
        })
        .await
        .unwrap();
    assert_eq!(json_body(&greeting)["message"], "Hello, ada!");

    let post = |path: &str| HttpRequest {
        method: "POST".into(),
        ..get(path)
    };
    for expected in 1..=3 {
        let reply = d.call(post("/counter/increment")).await.unwrap();
        assert_eq!(json_body(&reply)["count"], expected);
    }
    assert_eq!(
        d.kv.get("counter").map(String::as_str),
        Some("3"),
        "stored in the daemon's KV"
    );
    assert_eq!(
        json_body(&d.call(get("/counter")).await.unwrap())["count"],
        3
    );
    assert_eq!(
        json_body(&d.call(post("/counter/reset")).await.unwrap())["count"],
        0
    );
    assert!(d.kv.is_empty());

    let missing = d.call(get("/nope")).await.unwrap();
    assert!(matches!(missing.body, Body::HttpResponse(ref r) if r.status == 404));

    // SIGTERM: exit 0 and take the socket file away.
    let kill = Command::new("kill")
        .args(["-TERM", &plugin.0.id().to_string()])
        .status();
    assert!(kill.unwrap().success());
    let status = tokio::task::spawn_blocking(move || plugin.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(!socket.exists(), "socket removed on SIGTERM");
}

/// Spawns the plugin and connects to it as an initialised daemon.
async fn started(socket: &Path) -> (Running, TestDaemon) {
    let plugin = spawn(socket);
    let mut d = TestDaemon::connect(socket, Duration::from_secs(10))
        .await
        .unwrap();
    d.init("hello-rust", "00000000-0000-4000-8000-000000000000")
        .await
        .unwrap();
    (plugin, d)
}

#[tokio::test]
async fn serves_the_embedded_bundle_as_javascript() {
    // build.rs chose this file: frontend/dist/bundle.js if built, else the fallback.
    let chosen = Path::new(env!("HELLO_RUST_BUNDLE"));
    let on_disk = std::fs::read(chosen).unwrap();
    assert_eq!(
        hello_plugin_rust::FRONTEND_BUNDLE,
        on_disk.as_slice(),
        "{} changed after the build embedded it",
        chosen.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("hello.sock");
    let (_plugin, mut d) = started(&socket).await;
    let reply = d.call(get("/_toru/bundle.js")).await.unwrap();
    let Body::HttpResponse(r) = reply.body else {
        panic!("expected http.response, got {reply:?}");
    };
    assert_eq!(r.status, 200);
    let content_type = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    assert!(
        content_type.is_some_and(|v| v.starts_with("text/javascript")),
        "content-type {content_type:?}"
    );
    assert!(
        r.body == on_disk,
        "served {} bytes, {} has {}",
        r.body.len(),
        chosen.display(),
        on_disk.len()
    );
    let text = String::from_utf8(r.body).expect("the bundle is UTF-8");
    assert!(
        text.contains("mount") && text.contains("unmount"),
        "exports mount/unmount"
    );
}

#[tokio::test]
async fn concurrent_increments_are_not_lost() {
    const N: u64 = 25;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("hello.sock");
    let (_plugin, mut d) = started(&socket).await;

    // All requests go out before any answer comes back, so the runner handles them at once.
    let mut ids = std::collections::HashSet::new();
    for _ in 0..N {
        let id = d.next_id();
        let request = HttpRequest {
            method: "POST".into(),
            ..get("/counter/increment")
        };
        d.send(&toru_plugin_api::Message::new(
            id.clone(),
            Body::HttpRequest(request),
        ))
        .await
        .unwrap();
        ids.insert(id);
    }
    let mut counts = Vec::new();
    for _ in 0..N {
        let reply = d.recv_serving_kv().await.unwrap();
        assert!(ids.remove(&reply.request_id), "unexpected reply {reply:?}");
        counts.push(json_body(&reply)["count"].as_u64().unwrap());
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=N).collect::<Vec<_>>(),
        "each increment counted once"
    );
    assert_eq!(d.kv.get("counter"), Some(&N.to_string()));
}

/// Signs a licence payload with the demo vendor's private key (`examples/demo-vendor/`), as
/// `toru-license issue` would.
fn demo_key(payload: &serde_json::Value) -> String {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../demo-vendor/ed25519.key")).unwrap();
    let seed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(file["private_key"].as_str().unwrap())
        .unwrap();
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed.try_into().unwrap());
    let signed = format!("TORU1.{}", b64(payload.to_string().as_bytes()));
    let signature = signing.sign(signed.as_bytes());
    format!("{signed}.{}", b64(&signature.to_bytes()))
}

#[tokio::test]
async fn pro_needs_a_demo_vendor_licence_for_this_instance_with_the_pro_feature() {
    const INSTANCE: &str = "00000000-0000-4000-8000-000000000000";
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("hello.sock");
    let _plugin = spawn(&socket);
    let mut d = TestDaemon::connect(&socket, Duration::from_secs(10))
        .await
        .unwrap();
    let payload = |instance: &str, features: &[&str]| {
        serde_json::json!({"v": 1, "alg": "EdDSA", "plugin": "hello-rust", "instance": instance,
            "licensee": "Demo Ltd", "iat": 1_767_225_600u64, "features": features})
    };
    let init = |key: Option<String>| toru_plugin_api::Init {
        protocol_version: toru_plugin_api::PROTOCOL_VERSION,
        plugin_id: "hello-rust".into(),
        instance_id: INSTANCE.into(),
        config: Default::default(),
        license: key,
    };
    let pro = |reply: toru_plugin_api::Message| match reply.body {
        Body::HttpResponse(r) => (
            r.status,
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap(),
        ),
        other => panic!("expected http.response, got {other:?}"),
    };

    // No key: the plugin runs, reports `missing`, and /pro answers 402 while /greeting works.
    let ready = d.init_with(init(None)).await.unwrap();
    assert!(
        matches!(ready.license, Some(toru_plugin_api::LicenseReport::Invalid { ref error, .. }) if error == "missing")
    );
    let (status, body) = pro(d.call(get("/pro")).await.unwrap());
    assert_eq!(
        (status, &body["error"]["code"]),
        (402, &serde_json::json!("license_missing"))
    );
    json_body(&d.call(get("/greeting")).await.unwrap());

    // A demo key for another instance: 403 wrong_instance.
    let other = demo_key(&payload("11111111-1111-4111-8111-111111111111", &["pro"]));
    d.init_with(init(Some(other))).await.unwrap();
    let (status, body) = pro(d.call(get("/pro")).await.unwrap());
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (403, Some("wrong_instance"))
    );

    // A valid key without the pro feature: 403 feature_missing.
    let basic = demo_key(&payload(INSTANCE, &[]));
    d.init_with(init(Some(basic))).await.unwrap();
    let (status, body) = pro(d.call(get("/pro")).await.unwrap());
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (403, Some("feature_missing"))
    );

    // The right key: unlocked.
    let good = demo_key(&payload(INSTANCE, &["pro"]));
    let ready = d.init_with(init(Some(good))).await.unwrap();
    assert!(matches!(
        ready.license,
        Some(toru_plugin_api::LicenseReport::Valid { .. })
    ));
    let body = json_body(&d.call(get("/pro")).await.unwrap());
    assert_eq!(body["licensee"], "Demo Ltd");
}

#[tokio::test]
async fn greets_with_the_greeting_setting_of_init() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("hello.sock");
    let _plugin = spawn(&socket);
    let mut d = TestDaemon::connect(&socket, Duration::from_secs(10))
        .await
        .unwrap();
    d.init_with(toru_plugin_api::Init {
        protocol_version: toru_plugin_api::PROTOCOL_VERSION,
        plugin_id: "hello-rust".into(),
        instance_id: "00000000-0000-4000-8000-000000000000".into(),
        config: [("greeting".to_owned(), serde_json::json!("Ahoy"))].into(),
        license: None,
    })
    .await
    .unwrap();
    let greeting = d
        .call(HttpRequest {
            user: Some("ada".into()),
            ..get("/greeting")
        })
        .await
        .unwrap();
    assert_eq!(json_body(&greeting)["message"], "Ahoy, ada!");
}

#[test]
fn declares_the_greeting_setting_with_its_default() {
    let meta = hello_plugin_rust::Hello::default().metadata();
    let schema = meta.settings.expect("declares settings");
    let greeting = schema.get("greeting").unwrap();
    assert_eq!(greeting.default, Some(serde_json::json!("Hello")));
    assert!(!greeting.secret);
}
