//! Signed plugins end to end (docs/signing.md), on the embedded backend: binaries signed by the
//! vendor CLI `toru-license sign`, the demo vendor's public key trusted as `acme`, and the daemon
//! under `enforce` (refuses unsigned and badly signed plugins at discovery, runs the signed one
//! from its verified copy, refuses to start a binary swapped after discovery) and under the
//! default `warn` (loads an unsigned plugin and says so).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::api::{ApiDaemon, enable, test_config};
use support::ctl::{ctl, ok};
use support::fixtures::{
    hello_rust, install, metadata_json, script, versioned_plugin, workspace_binary,
};
use support::harness::Dirs;
use toru_daemon::Daemon;
use toru_daemon::plugins::trust::SignaturePolicy;
use toructl::Client;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Trusts the demo vendor's public key as `acme` in `dir`.
fn trust_demo_vendor(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(
        repo().join("examples/demo-vendor/ed25519.key.pub"),
        dir.join("acme.pub"),
    )
    .unwrap();
}

/// `toru-license sign --key <demo vendor key> BINARY`, as the vendor runs it.
fn sign(binary: &Path, scratch: &Path) {
    let key = scratch.join("vendor.key");
    if !key.exists() {
        std::fs::copy(repo().join("examples/demo-vendor/ed25519.key"), &key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = Command::new(workspace_binary("toru-license", "toru-license"))
        .arg("sign")
        .arg("--key")
        .arg(&key)
        .arg(binary)
        .output()
        .unwrap();
    assert!(out.status.success(), "toru-license sign: {out:?}");
}

/// A script plugin that reports valid metadata for `id`.
fn script_plugin(dir: &Path, id: &str) -> PathBuf {
    let meta = metadata_json(id);
    script(
        dir,
        id,
        &format!("if [ \"$1\" = --metadata ]; then echo '{meta}'; exit 0; fi\nsleep 60"),
    )
}

fn signature(plugin: &Value) -> &Value {
    &plugin["signature"]
}

async fn event_details(client: &Client, plugin: &str, kind: &str) -> Vec<String> {
    let events: Vec<Value> = client
        .get(&format!("/api/events?plugin={plugin}&kind={kind}"))
        .await
        .unwrap();
    events
        .iter()
        .map(|e| e["details"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn enforcing_daemon(dirs: &Dirs) -> ApiDaemon {
    let mut config = test_config(dirs);
    config.signatures = SignaturePolicy::Enforce;
    trust_demo_vendor(&config.trusted_keys_dir);
    ApiDaemon::start_with(config).await
}

#[tokio::test]
async fn enforce_refuses_unsigned_and_misapplied_signatures_and_runs_the_verified_copy() {
    let dirs = Dirs::new();
    let plugins = dirs.plugins();
    let signed = install(&plugins, &hello_rust(), "hello-rust");
    sign(&signed, dirs.root.path());
    script_plugin(&plugins, "unsigned");
    // A real signature, by the trusted key, but over another file.
    let forged = script_plugin(&plugins, "forged");
    std::fs::copy(
        plugins.join("hello-rust.binary.sig"),
        plugins.join("forged.binary.sig"),
    )
    .unwrap();
    let d = enforcing_daemon(&dirs).await;
    d.create_admin().await;
    let client = d.login().await;

    // Discovery refused both, saying why, and recorded signature_refused.
    let failures: Vec<Value> = client.get("/api/discovery-failures").await.unwrap();
    let reason = |name: &str| {
        failures
            .iter()
            .find(|f| f["binary"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not refused: {failures:#?}"))["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        reason("unsigned.binary").contains("unsigned"),
        "{failures:#?}"
    );
    assert!(
        reason("forged.binary").contains("does not match this binary"),
        "{failures:#?}"
    );
    for name in ["unsigned", "forged"] {
        let refused = event_details(&client, name, "signature_refused").await;
        assert_eq!(refused.len(), 1, "{name}: {refused:?}");
    }
    let listed: Vec<Value> = client.get("/api/plugins").await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");

    // The signed one is listed as signed by acme, and runs from the verified copy.
    let running = enable(&client, "hello-rust").await;
    assert_eq!(
        *signature(&running),
        json!({"state": "signed", "key": "acme"})
    );
    let pid = running["status"]["pid"].as_u64().unwrap();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let verified = d.config.data_dir.join("verified");
    assert_eq!(exe.parent(), Some(verified.as_path()), "{}", exe.display());
    let copy_mode = std::fs::metadata(&exe).unwrap().permissions().mode();
    assert_eq!(copy_mode & 0o777, 0o555);
    let shown = ctl(&d, &["plugin", "show", "hello-rust"]).await;
    ok(&shown, "plugin show");
    assert!(shown.stdout.contains("signed by acme"), "{}", shown.stdout);

    // The binary is swapped after discovery: the next start refuses it.
    client.disable("hello-rust").await.unwrap();
    std::fs::copy(&forged, &signed).unwrap();
    client.enable("hello-rust").await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let refused = loop {
        let p: Value = client.get("/api/plugins/hello-rust").await.unwrap();
        let error = p["status"]["last_error"].as_str().unwrap_or_default();
        if error.contains("changed since verified") {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "never refused: {p:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(refused["status"]["state"], "running");
    let refused = event_details(&client, "hello-rust", "signature_refused").await;
    assert!(!refused.is_empty(), "no signature_refused event");
    d.stop().await;
}

#[tokio::test]
async fn warn_loads_an_unsigned_plugin_and_says_so() {
    let dirs = Dirs::new();
    let plugins = dirs.plugins();
    let binary = install(&plugins, &hello_rust(), "hello-rust");
    let mut config = test_config(&dirs);
    assert_eq!(config.signatures, SignaturePolicy::Warn, "the default");
    trust_demo_vendor(&config.trusted_keys_dir);
    config.signatures = SignaturePolicy::Warn;
    let d = ApiDaemon::start_with(config).await;
    d.create_admin().await;
    let client = d.login().await;
    let running = enable(&client, "hello-rust").await;
    assert_eq!(*signature(&running), json!({"state": "unsigned"}));
    let pid = running["status"]["pid"].as_u64().unwrap();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, binary, "warn runs the binary where it is");
    let shown = ctl(&d, &["plugin", "show", "hello-rust"]).await;
    assert!(shown.stdout.contains("unsigned"), "{}", shown.stdout);
    d.stop().await;
}

#[tokio::test]
async fn a_bad_trusted_key_file_stops_the_daemon_naming_it() {
    let dirs = Dirs::new();
    let config = test_config(&dirs);
    std::fs::create_dir_all(&config.trusted_keys_dir).unwrap();
    std::fs::write(config.trusted_keys_dir.join("typo.pub"), "not a key").unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let Err(err) = Daemon::start(&config, shutdown).await else {
        panic!("the daemon started with a bad key file");
    };
    let err = format!("{err:#}");
    assert!(err.contains("typo.pub"), "{err}");
}

/// An upload under `enforce` passes the scan's checks: unsigned is refused before anything is
/// installed; signed (the `.sig` line in `Toru-Signature`) is installed and runs from its
/// verified copy; an upgrade to another signed build runs, its new digest the one verified.
#[tokio::test]
async fn enforce_checks_uploads_and_an_upgrade_runs_the_new_verified_bytes() {
    let dirs = Dirs::new();
    let d = enforcing_daemon(&dirs).await;
    let scratch = dirs.root.path().join("vendor");
    std::fs::create_dir_all(&scratch).unwrap();
    let upload = |bytes: Vec<u8>, signature: Option<String>| {
        let client = d.local.clone();
        async move {
            let mut headers = vec![("content-type", "application/octet-stream")];
            if let Some(signature) = &signature {
                headers.push(("toru-signature", signature.as_str()));
            }
            client
                .request(http::Method::POST, "/api/plugins", &headers, Some(bytes))
                .await
                .unwrap()
        }
    };
    // A plugin that runs (the install tests' fixture), in two versions.
    let write = |version: &str| {
        let path = scratch.join("vendored.binary");
        std::fs::write(&path, versioned_plugin("vendored", version, "ok")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    };
    let v1 = write("1.0.0");
    let r = upload(std::fs::read(&v1).unwrap(), None).await;
    assert_eq!(
        r.status,
        http::StatusCode::BAD_REQUEST,
        "unsigned is refused"
    );
    assert!(String::from_utf8_lossy(&r.body).contains("unsigned"));
    assert!(!dirs.plugins().join("vendored.binary").exists());

    let signed = |binary: &Path| {
        sign(binary, &scratch);
        let line = std::fs::read_to_string(scratch.join("vendored.binary.sig")).unwrap();
        Some(line.trim().to_owned())
    };
    let r = upload(std::fs::read(&v1).unwrap(), signed(&v1)).await;
    assert!(
        r.status.is_success(),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let p = enable(&d.local, "vendored").await;
    assert_eq!(signature(&p), &json!({"state": "signed", "key": "acme"}));

    // The next version, signed: the upgrade runs it (its digest is the one verified now).
    let v2 = write("1.1.0");
    let r = upload(std::fs::read(&v2).unwrap(), signed(&v2)).await;
    assert!(
        r.status.is_success(),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let p: Value = d.local.get("/api/plugins/vendored").await.unwrap();
    assert_eq!(p["status"]["state"], "running", "{p:#}");
    assert_eq!(p["version"], "1.1.0", "{p:#}");
    d.stop().await;
}
