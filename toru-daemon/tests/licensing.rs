//! Licences end to end (docs/licensing.md): keys issued by the vendor CLI `toru-license` for this
//! daemon's instance id, installed with `toructl` and the API, checked by the real example
//! plugins, shown by `toructl plugin show`, kept across a daemon restart; and a
//! `license_required` plugin whose routes the daemon refuses until its licence is valid.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::api::{ApiDaemon, enable, wait_state};
use support::ctl::{ctl, ctl_in, ok};
use support::fixtures::{example_plugins, install, install_python_fixture, workspace_binary};
use support::harness::Dirs;
use toructl::Client;

/// An instance id that is not the daemon's.
const OTHER_INSTANCE: &str = "5f0c2a4e-8b1d-4c6f-9e2a-7d3b1c0e9f48";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The demo vendor's secret key files, copied with the 0600 mode `toru-license` insists on
/// (git keeps only 0644).
fn vendor_keys(dir: &Path) -> (PathBuf, PathBuf) {
    let copy = |name: &str| {
        let to = dir.join(name);
        std::fs::copy(repo().join("examples/demo-vendor").join(name), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
        to
    };
    (copy("ed25519.key"), copy("hmac.key"))
}

/// `toru-license issue …`, as the vendor runs it; returns the key.
fn issue(key_file: &Path, plugin: &str, instance: &str) -> String {
    let out = Command::new(workspace_binary("toru-license", "toru-license"))
        .arg("issue")
        .arg("--key")
        .arg(key_file)
        .args(["--plugin", plugin, "--instance", instance])
        .args(["--licensee", "E2E Ltd", "--feature", "pro"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "toru-license issue: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The status of `GET /api/plugins/ID/route/PATH` and its JSON body.
async fn route(client: &Client, id: &str, path: &str) -> (StatusCode, Value) {
    let r = client
        .raw(
            Method::GET,
            &format!("/api/plugins/{id}/route/{path}"),
            None,
        )
        .await
        .unwrap();
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

async fn put_key(client: &Client, id: &str, key: &str) -> (StatusCode, Value) {
    let r = client
        .raw(
            Method::PUT,
            &format!("/api/plugins/{id}/license"),
            Some(json!({ "key": key }).to_string().into_bytes()),
        )
        .await
        .unwrap();
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

async fn instance_id(client: &Client) -> String {
    let status: Value = client.get("/api/status").await.unwrap();
    status["instance_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn keys_issued_by_toru_license_unlock_both_examples_and_survive_a_restart() {
    let built = example_plugins();
    let dirs = Dirs::new();
    for id in ["hello-rust", "hello-python"] {
        install(&dirs.plugins(), &built.join(format!("{id}.binary")), id);
    }
    let vendor = tempfile::tempdir().unwrap();
    let (ed25519, hmac) = vendor_keys(vendor.path());
    let d = ApiDaemon::start(&dirs).await;
    d.create_admin().await;
    let s = d.login().await;
    let instance = instance_id(&s).await;
    for id in ["hello-rust", "hello-python"] {
        enable(&s, id).await;
        // Case: no key. The plugin runs and reports `missing`; /pro is refused with 402.
        let (status, body) = route(&s, id, "pro").await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{id}: {body}");
        assert_eq!(body["error"]["code"], "license_missing");
        let p: Value = s.get(&format!("/api/plugins/{id}")).await.unwrap();
        assert_eq!(p["license"]["state"], "missing", "{id}: {p}");
    }

    // Case: a genuine key for another instance. toructl installs it, the restarted plugin
    // rejects it, toructl says so (exit 1) and `plugin show` names both instances.
    let theirs = issue(&ed25519, "hello-rust", OTHER_INSTANCE);
    let run = ctl(&d, &["plugin", "license", "set", "hello-rust", &theirs]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("invalid (wrong_instance)"),
        "{}",
        run.stdout
    );
    let show = ctl(&d, &["plugin", "show", "hello-rust"]).await;
    ok(&show, "plugin show");
    let line = show
        .stdout
        .lines()
        .find(|l| l.starts_with("licence"))
        .unwrap_or_else(|| panic!("no licence line in:\n{}", show.stdout));
    assert!(
        line.contains(&format!(
            "issued for instance {OTHER_INSTANCE}, this is instance {instance}"
        )),
        "{line}"
    );
    let (status, body) = route(&s, "hello-rust", "pro").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["kind"], "wrong_instance");

    // Case: the right key, from a file (Ed25519 for hello-rust) and from stdin (HMAC for
    // hello-python). Both are reported valid and /pro answers.
    let ours = issue(&ed25519, "hello-rust", &instance);
    let key_file = vendor.path().join("hello-rust.licence");
    std::fs::write(&key_file, format!("{ours}\n")).unwrap();
    let run = ctl(
        &d,
        &[
            "plugin",
            "license",
            "set",
            "hello-rust",
            "--file",
            key_file.to_str().unwrap(),
        ],
    )
    .await;
    ok(&run, "license set --file");
    assert!(
        run.stdout
            .contains("valid: E2E Ltd, never expires, features: pro"),
        "{}",
        run.stdout
    );
    let python_key = issue(&hmac, "hello-python", &instance);
    let run = ctl_in(
        &d,
        &["plugin", "license", "set", "hello-python", "-"],
        Some(&python_key),
    )
    .await;
    ok(&run, "license set from stdin");
    for id in ["hello-rust", "hello-python"] {
        let (status, body) = route(&s, id, "pro").await;
        assert_eq!(status, StatusCode::OK, "{id}: {body}");
        assert_eq!(body["licensee"], "E2E Ltd");
    }

    // Case: keys that can never be valid here are refused with 400 and change nothing.
    for (what, key) in [
        ("not a key", "hello".to_owned()),
        ("a damaged key", format!("{}x!", &ours[..ours.len() - 3])),
        ("another plugin's key", python_key.clone()),
        ("a huge key", format!("TORU1.{}", "A".repeat(20_000))),
    ] {
        let (status, body) = put_key(&s, "hello-rust", &key).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["error"]["code"], "bad_license", "{what}");
    }
    let (status, _) = put_key(&s, "no-such-plugin", &ours).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unknown plugin");
    let (status, _) = route(&s, "hello-rust", "pro").await;
    assert_eq!(status, StatusCode::OK, "the valid key is still installed");

    // The keys survive a daemon restart: the new daemon hands them over again.
    let config = d.config.clone();
    d.stop().await;
    let d = ApiDaemon::start_with(config).await;
    let s = d.login().await;
    for id in ["hello-rust", "hello-python"] {
        wait_state(&s, id, "running").await;
        let (status, body) = route(&s, id, "pro").await;
        assert_eq!(status, StatusCode::OK, "{id} after restart: {body}");
    }
    let p: Value = s.get("/api/plugins/hello-rust").await.unwrap();
    assert_eq!(p["license"]["state"], "valid", "{p}");
    assert_eq!(p["license"]["licensee"], "E2E Ltd");
    assert_eq!(p["license"]["features"], json!(["pro"]));

    // Clearing the key locks /pro again.
    ok(
        &ctl(&d, &["plugin", "license", "clear", "hello-rust"]).await,
        "license clear",
    );
    let (status, _) = route(&s, "hello-rust", "pro").await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    d.stop().await;
}

#[tokio::test]
async fn the_daemon_refuses_a_license_required_plugins_routes_until_its_licence_is_valid() {
    let dirs = Dirs::new();
    install_python_fixture(&dirs.plugins(), "licensed_plugin.py", "licensed");
    let vendor = tempfile::tempdir().unwrap();
    let (_, hmac) = vendor_keys(vendor.path());
    let d = ApiDaemon::start(&dirs).await;
    d.create_admin().await;
    let s = d.login().await;
    let instance = instance_id(&s).await;
    let p = enable(&s, "licensed").await;
    assert_eq!(p["license_required"], true);
    assert_eq!(p["license"]["required"], true);

    // Case: no key: 402 from the daemon, the plugin is never asked.
    let (status, body) = route(&s, "licensed", "anything").await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(body["error"]["code"], "license_missing");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this plugin needs a valid licence"),
        "{body}"
    );

    // Case: a key for another instance: 403, with the plugin's reason.
    let (status, _) = put_key(&s, "licensed", &issue(&hmac, "licensed", OTHER_INSTANCE)).await;
    assert_eq!(status, StatusCode::OK);
    wait_state(&s, "licensed", "running").await;
    let (status, body) = route(&s, "licensed", "anything").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["kind"], "wrong_instance");

    // Case: the right key: forwarded.
    let (status, _) = put_key(&s, "licensed", &issue(&hmac, "licensed", &instance)).await;
    assert_eq!(status, StatusCode::OK);
    wait_state(&s, "licensed", "running").await;
    let (status, body) = route(&s, "licensed", "anything").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"answer": 42})));
    d.stop().await;
}
